"""Where the shared real-cluster fixtures live (next to the repository, as CI lays it out)."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings

FIXTURES = Path(settings.BASE_DIR).parent / "shared" / "fixtures"
REAL = sorted(p for p in (FIXTURES / "real").iterdir() if p.suffix in (".json", ".yaml", ".yml"))
ODD = sorted((FIXTURES / "odd").glob("*.json"))
