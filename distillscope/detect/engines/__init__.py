"""Detection engines: DuckDB (embedded, the default) and PySpark (for logs beyond one machine).

Each engine turns a log into :class:`~distillscope.detect.tables.FeatureTables`
with the same SQL (:mod:`distillscope.detect.sqlparts`); scoring is shared.

This module must not import an engine (DuckDB and PySpark load only with the one chosen), and no
engine may score: each stops at the feature tables.
"""

from __future__ import annotations

ENGINES = ("duckdb", "spark")
