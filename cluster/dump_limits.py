"""The bounds of :class:`cluster.bounds.Limits` as this deployment's settings set them."""

from __future__ import annotations

from django.conf import settings

from cluster.bounds import Limits


def dump_limits() -> Limits:
    """``ROUTESCOPE_DUMP_MAX_*`` as a :class:`Limits` (read per call: tests override them)."""
    return Limits(
        max_depth=settings.ROUTESCOPE_DUMP_MAX_DEPTH,
        max_string=settings.ROUTESCOPE_DUMP_MAX_STRING,
        max_number=settings.ROUTESCOPE_DUMP_MAX_NUMBER,
        max_objects=settings.ROUTESCOPE_DUMP_MAX_OBJECTS,
        max_values=settings.ROUTESCOPE_DUMP_MAX_VALUES,
        max_gzip_ratio=settings.ROUTESCOPE_DUMP_MAX_GZIP_RATIO,
    )
