"""report component (see DESIGN.md)."""
