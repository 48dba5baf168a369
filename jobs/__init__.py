"""jobs app."""
