"""Project-wide plumbing every app builds on: API authentication, permissions, throttling,
error shape, the API root and docs pages, shared FilterSet parts.

The bottom layer: ``core`` imports no project app (see ARCHITECTURE.md and the import-linter
contracts in pyproject.toml).
"""
