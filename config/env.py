"""The one place where Routescope reads its environment.

Settings modules call these helpers; nothing else in the project reads ``os.environ``
for configuration.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def secret_key(*, path: Path | None = None) -> str:
    """Return ``SECRET_KEY`` from the environment, else from a git-ignored local file.

    The file is created with a fresh random key on first use, so a laptop needs no set-up
    and the key survives restarts (sessions stay valid).
    """
    value = env.str("SECRET_KEY", default="")
    if value:
        return value
    path = path or BASE_DIR / ".secret_key"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(50)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value
