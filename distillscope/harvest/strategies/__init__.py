"""harvest/strategies component (see DESIGN.md)."""
