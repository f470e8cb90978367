"""evaluate component (see DESIGN.md)."""
