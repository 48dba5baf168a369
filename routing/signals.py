"""Receivers that queue the stored analysis of a cluster's new revision (``RoutingConfig``).

Only with workers (a broker): without one (eager tasks) the first page or API call after
the change computes it inline (``routing.stored_analysis.analysis_status``), as before.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from cluster.models import Cluster

logger = logging.getLogger(__name__)


def analysis_on_revision(
    sender: type, instance: Cluster, update_fields: Any = None, **kwargs: Any
) -> None:
    """``post_save`` of a Cluster: an import or sync stored a new revision."""
    if update_fields is not None and "revision" in update_fields:
        _request_after_commit(instance.pk)


def analysis_on_watch_idle(sender: type, cluster: Cluster, **kwargs: Any) -> None:
    """``cluster.signals.watch_idle``: a burst of watch batches is stored (a no-op when
    the revision did not move: the request finds its analysis)."""
    _request_after_commit(cluster.pk)


def _request_after_commit(pk: int) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return

    def request() -> None:
        from routing.analysis_jobs import analysis_request

        cluster = Cluster.objects.filter(pk=pk).first()
        if cluster is None:
            return
        try:
            analysis_request(cluster=cluster)
        except Exception:  # the pages request it again; never fail the write that got here
            logger.exception("could not request the analysis of cluster %s", pk)

    transaction.on_commit(request)
