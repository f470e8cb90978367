"""guard component (see DESIGN.md)."""
