"""report component (see DESIGN.md).

This module must not import its modules, and nothing in this package may measure the model or its
traffic: the report shows only what report.json holds.
"""
