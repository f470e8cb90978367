"""share component (see DESIGN.md)."""
