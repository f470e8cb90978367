"""server component (see DESIGN.md)."""
