"""routing app."""
