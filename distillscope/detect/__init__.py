"""detect component (see DESIGN.md)."""
