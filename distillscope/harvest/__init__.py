"""harvest component (see DESIGN.md)."""
