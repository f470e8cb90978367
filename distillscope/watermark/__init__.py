"""watermark component (see DESIGN.md)."""
