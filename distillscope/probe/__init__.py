"""probe component (see DESIGN.md)."""
