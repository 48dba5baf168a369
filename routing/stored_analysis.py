"""Reading the stored cluster-wide analysis (``routing.analysis_jobs`` writes it).

Pages and the API never analyse in the request: they show the stored analysis of the
cluster's current revision, or, while that one is being computed, the newest finished one
with the progress of the one in flight (``AnalysisStatus``). The large JSON columns are
read once per process and analysis (a finished analysis never changes).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from django.conf import settings
from django.utils import timezone

from cluster.models import Cluster
from routing.analysis_jobs import (
    TEXT_COLUMNS,
    analysis_inputs,
    analysis_request,
    analysis_store_inline,
    analysis_watch,
    inputs_fingerprint,
)
from routing.models import AnalysisPart, ClusterAnalysis

_decode = msgspec.json.Decoder().decode

#: Columns every status read needs (the large JSON ones are read on demand).
_META = (
    "id",
    "cluster_id",
    "revision",
    "inputs",
    "state",
    "shards_total",
    "shards_done",
    "error",
    "created_at",
    "started_at",
    "finished_at",
)


@dataclass(frozen=True)
class AnalysisStatus:
    """What a page or the API shows of a cluster's analysis."""

    #: the finished analysis whose results are shown (None: none finished yet).
    shown: ClusterAnalysis | None
    #: the analysis of the current revision when it is not finished (queued, running,
    #: failed); None when ``shown`` is the current one.
    pending: ClusterAnalysis | None
    current_revision: int

    @property
    def is_current(self) -> bool:
        """The results shown are the current revision's."""
        return self.pending is None and self.shown is not None

    @property
    def age_seconds(self) -> float | None:
        """Seconds since the shown analysis finished."""
        if self.shown is None or self.shown.finished_at is None:
            return None
        return max(0.0, (timezone.now() - self.shown.finished_at).total_seconds())

    def to_json(self) -> dict[str, Any]:
        """The API's ``analysis`` object."""
        pending = self.pending
        state = "current" if self.is_current else (pending.state if pending else "none")
        return {
            "state": state,
            "revision": self.shown.revision if self.shown else None,
            "current_revision": self.current_revision,
            "finished_at": self.shown.finished_at.isoformat()
            if self.shown and self.shown.finished_at
            else None,
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1),
            "progress": None
            if pending is None
            else {
                "revision": pending.revision,
                "shards_done": pending.shards_done,
                "shards_total": pending.shards_total,
                "percent": pending.progress,
                "error": pending.error or None,
            },
        }


def analysis_status(*, cluster: Cluster) -> AnalysisStatus:
    """The cluster's analysis as it stands; never waits for workers.

    The current (revision, inputs) analysis when finished. Without a broker (eager tasks)
    it is computed here, inline, the first time. With workers it is requested (a no-op
    when the revision's hook did already) and the newest finished analysis is shown with
    the progress of the current one; its dead shards are re-queued meanwhile.
    """
    fingerprint = inputs_fingerprint(analysis_inputs(cluster))
    analyses = ClusterAnalysis.objects.filter(cluster=cluster).only(*_META)
    current = analyses.filter(revision=cluster.revision, inputs=fingerprint).first()
    if current is None or current.state != ClusterAnalysis.State.DONE:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            current = analysis_store_inline(cluster=cluster)
        elif current is None:
            current = analysis_request(cluster=cluster)
        else:
            analysis_watch(analysis=current)
            current = analyses.filter(pk=current.pk).first() or current
    if current.state == ClusterAnalysis.State.DONE:
        return AnalysisStatus(current, None, cluster.revision)
    shown = analyses.filter(state=ClusterAnalysis.State.DONE).first()
    return AnalysisStatus(shown, current, cluster.revision)


def identity(analysis: ClusterAnalysis) -> tuple[Any, ...]:
    """What tells one finished analysis from any other, even where ids are handed out
    again (a rolled-back test database)."""
    return (analysis.pk, analysis.cluster_id, analysis.revision, analysis.finished_at)


class _Columns:
    """A finished analysis' JSON columns, read once per process: the small ``report`` of
    the newest ``KEEP`` analyses, the large ones (``LARGE``: every finding, the API rows and
    the services table's figures, ~50 MB in memory for a 10,000-Service cluster) of the
    newest ``ROUTESCOPE_ANALYSIS_COLUMNS_KEEP`` (default 1), least recently used out, so a
    process browsing many clusters does not keep each one's."""

    KEEP = 4
    LARGE = frozenset({"findings", "rows", "figures"})

    def __init__(self) -> None:
        self._values: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._guard = threading.Lock()

    def get(
        self,
        analysis: ClusterAnalysis,
        column: str,
        derive: Callable[[Any], Any] | None = None,
        name: str = "",
    ) -> Any:
        """``column``'s value; with ``derive``, ``derive(value)`` kept as ``name`` instead
        (small: bounded by ``KEEP``), the column itself not kept."""
        key = (*identity(analysis), name or column)
        with self._guard:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        if column == "rows":
            value = rows_text(analysis.pk)
        else:
            value = ClusterAnalysis.objects.values_list(column, flat=True).get(pk=analysis.pk)
        if column in TEXT_COLUMNS:  # JSON text, not a JSON column
            value = _decode(value)
        if derive is not None:
            value = derive(value)
        with self._guard:
            self._values[key] = value
            self._bound()
        return value

    def _bound(self) -> None:
        """Drop the columns of the analyses used least recently beyond the two bounds."""
        limits = {False: self.KEEP, True: analysis_columns_keep()}
        kept: dict[bool, set[tuple[Any, ...]]] = {False: set(), True: set()}
        for key in reversed(list(self._values)):  # the most recently used first
            large = key[-1] in self.LARGE
            analysis = key[:-1]
            if analysis not in kept[large] and len(kept[large]) >= limits[large]:
                del self._values[key]
            else:
                kept[large].add(analysis)


def rows_text(pk: int) -> str:
    """The stored rows of analysis ``pk``, as JSON text: its ``rows`` column, or, when the
    merge left it empty, its shards' row arrays (``AnalysisPart.rows``) joined in shard
    order."""
    text = ClusterAnalysis.objects.values_list("rows", flat=True).get(pk=pk)
    if text:
        return text
    parts = AnalysisPart.objects.filter(analysis_id=pk).order_by("index")
    arrays = [rows[1:-1] for rows in parts.values_list("rows", flat=True) if len(rows) > 2]
    return "[" + ",".join(arrays) + "]"


def analysis_columns_keep() -> int:
    """How many analyses' large columns a process keeps: ``ROUTESCOPE_ANALYSIS_COLUMNS_KEEP``
    (at least 1)."""
    return max(1, int(getattr(settings, "ROUTESCOPE_ANALYSIS_COLUMNS_KEEP", 1)))


_columns = _Columns()


def stored_report(analysis: ClusterAnalysis) -> dict[str, Any]:
    """``summary``, ``cost_model``, ``notes``, ``top_findings``, ``findings_total``."""
    return _columns.get(analysis, "report")


def stored_findings(analysis: ClusterAnalysis) -> list[dict[str, Any]]:
    """Every finding's JSON, ranked."""
    return _columns.get(analysis, "findings")


def stored_rows(analysis: ClusterAnalysis) -> list[dict[str, Any]]:
    """The Service rows' JSON (the API's, without per-endpoint shares)."""
    return _columns.get(analysis, "rows")


def stored_costs(analysis: ClusterAnalysis) -> dict[str, float]:
    """Per Service its cross-zone bill, USD/month: the sum over its ports' stored rows
    (what a Service page shows), read off the figures (their fifth value; an analysis
    stored before ``FORMAT`` 3 sums its rows instead) and kept without them; the rows,
    ~40 MB in memory for 10,000 Services, only the API and ``/metrics`` read whole."""

    def derive(figures: dict[str, list[Any]]) -> dict[str, float]:
        if all(len(values) > FIGURE_COST for values in figures.values()):
            return {service: values[FIGURE_COST] for service, values in figures.items()}
        return _costs(_decode(rows_text(analysis.pk)))

    return _columns.get(analysis, "figures", derive, "costs")


#: Where a Service's bill sits in its stored figures (``FORMAT`` 3 on).
FIGURE_COST = 4


def _costs(rows: list[dict[str, Any]]) -> dict[str, float]:
    costs: dict[str, float] = {}
    for row in rows:
        costs[row["service"]] = costs.get(row["service"], 0.0) + row["cost_usd_per_month"]
    return costs


#: One exported series of ``/metrics``: namespace, Service, port, source, dropped share,
#: imbalance.
Series = tuple[str, str, str, str, float, float]


def stored_series(analysis: ClusterAnalysis) -> list[Series]:
    """The Service rows' non-zero dropped shares and imbalances, per port and source (what
    ``/metrics`` exports), derived from the rows once per analysis and kept without them."""
    return _columns.get(analysis, "rows", _series, "series")


def _series(rows: list[dict[str, Any]]) -> list[Series]:
    found: list[Series] = []
    for row in rows:
        namespace, _, service = row["service"].partition("/")
        for stats in row["sources"]:
            if stats["dropped"] > 0 or stats["imbalance"]:
                found.append(
                    (
                        namespace,
                        service,
                        row["port"],
                        stats["source"],
                        stats["dropped"],
                        stats["imbalance"],
                    )
                )
    return found


def stored_figures(analysis: ClusterAnalysis) -> dict[str, list[Any]]:
    """Per Service ``[dropped, imbalance, nodes_covered, nodes_total]`` (its worst port),
    then its bill (``stored_costs``; absent from analyses stored before ``FORMAT`` 3)."""
    return _columns.get(analysis, "figures")
