"""The ``LOGGING`` setting, shared by the web/worker settings and the node agent's."""

from __future__ import annotations

from typing import Any


def logging_config(log_format: str, level: str, *, quiet_sql: bool = False) -> dict[str, Any]:
    """One console handler; ``log_format`` "json" writes one JSON object per line
    (``ops.logs.JsonFormatter``), anything else plain lines."""
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "json": {"()": "ops.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if log_format == "json" else "plain",
            }
        },
        "root": {"handlers": ["console"], "level": level},
    }
    if quiet_sql:
        config["loggers"] = {"django.db.backends": {"level": "WARNING"}}
    return config
