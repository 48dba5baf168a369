"""Where the real-cluster fixtures live: ``tests/fixtures/`` in the repository (origins and
licences in ``tests/fixtures/real/SOURCES.md``)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

FIXTURES = Path(settings.BASE_DIR) / "tests" / "fixtures"
REAL = sorted(p for p in (FIXTURES / "real").iterdir() if p.suffix in (".json", ".yaml", ".yml"))
ODD = sorted((FIXTURES / "odd").glob("*.json"))
