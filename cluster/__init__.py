"""cluster app."""
