"""train component (see DESIGN.md)."""
