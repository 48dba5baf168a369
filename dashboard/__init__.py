"""dashboard app."""
