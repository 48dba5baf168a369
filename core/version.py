"""Routescope's version: in the Kubernetes User-Agent (``routescope/<version>``) and the
API schema. Kept equal to pyproject.toml's ``version`` (a test checks)."""

VERSION = "0.1.0"
