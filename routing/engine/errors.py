"""Engine error types shared by several modules."""
from __future__ import annotations


class ScenarioError(ValueError):
    """A scenario that cannot apply (one line: which field, which value, what is allowed)."""
