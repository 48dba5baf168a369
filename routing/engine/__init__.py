"""Routescope routing engine: pure Python (+ numpy). No Django, no database."""
