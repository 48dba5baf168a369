"""A web process keeps the large JSON columns of few stored analyses (issue 13: memory must
not grow as clusters x processes): ``ROUTESCOPE_ANALYSIS_COLUMNS_KEEP`` analyses' findings,
rows and figures, the small reports of ``_Columns.KEEP``; an evicted column is read again,
the same."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command

from cluster.generator import Shape, generate_cluster
from cluster.models import Cluster
from cluster.services import cluster_import
from routing import stored_analysis
from routing.analysis_jobs import analysis_store_inline
from routing.models import ClusterAnalysis
from routing.stored_analysis import (
    analysis_columns_keep,
    stored_costs,
    stored_figures,
    stored_findings,
    stored_report,
    stored_rows,
    stored_series,
)

pytestmark = pytest.mark.django_db

READERS = {
    "report": stored_report,
    "findings": stored_findings,
    "rows": stored_rows,
    "figures": stored_figures,
}


def _analysis(seed: int) -> ClusterAnalysis:
    out = io.StringIO()
    generate_cluster(shape=Shape(nodes=4, services=6, pods=18, zones=2, seed=seed), out=out)
    cluster_import(name=f"cols-{seed}", objects=json.loads(out.getvalue())["items"])
    return analysis_store_inline(cluster=Cluster.objects.get(name=f"cols-{seed}"))


def _held() -> dict[str, set[int]]:
    """Per column, the analyses (pk) whose value this process holds."""
    held: dict[str, set[int]] = {column: set() for column in (*READERS, "costs", "series")}
    for key in stored_analysis._columns._values:
        held[key[-1]].add(key[0])
    return held


def _read_all(analysis: ClusterAnalysis) -> dict[str, Any]:
    return {column: read(analysis) for column, read in READERS.items()}


@pytest.fixture
def columns() -> Any:
    stored_analysis._columns._values.clear()
    yield stored_analysis._columns
    stored_analysis._columns._values.clear()


def test_large_columns_of_n_analyses_and_reports_of_keep(columns, settings) -> None:
    settings.ROUTESCOPE_ANALYSIS_COLUMNS_KEEP = 2
    analyses = [_analysis(seed) for seed in (1, 2, 3, 4, 5, 6)]
    first = {a.pk: _read_all(a) for a in analyses}
    assert all(first[a.pk]["rows"] and first[a.pk]["figures"] for a in analyses)
    held = _held()
    newest = [a.pk for a in analyses]
    for column in ("findings", "rows", "figures"):
        assert held[column] == set(newest[-2:]), column
    assert held["report"] == set(newest[-columns.KEEP :])

    # read again after eviction: the stored values, now held in place of the least recent
    again = _read_all(analyses[0])
    assert again == first[analyses[0].pk]
    row = ClusterAnalysis.objects.values("findings", "rows", "figures").get(pk=analyses[0].pk)
    stored = {
        "findings": json.loads(row["findings"]),  # JSON text columns
        "rows": json.loads(row["rows"]),
        "figures": row["figures"],
    }
    assert {k: again[k] for k in stored} == stored
    held = _held()
    assert held["rows"] == {analyses[0].pk, analyses[-1].pk}
    assert analyses[0].pk in held["report"] and len(held["report"]) == columns.KEEP


def test_a_column_read_again_is_served_from_memory(columns, settings, django_assert_num_queries):
    settings.ROUTESCOPE_ANALYSIS_COLUMNS_KEEP = 1
    analysis = _analysis(7)
    rows = stored_rows(analysis)
    with django_assert_num_queries(0):
        assert stored_rows(analysis) is rows


def test_analysis_columns_keep_reads_the_setting(settings) -> None:
    settings.ROUTESCOPE_ANALYSIS_COLUMNS_KEEP = 3
    assert analysis_columns_keep() == 3
    settings.ROUTESCOPE_ANALYSIS_COLUMNS_KEEP = 0
    assert analysis_columns_keep() == 1


def _row_costs(analysis: ClusterAnalysis) -> dict[str, float]:
    """Per Service the sum of its stored rows' bills, in row order."""
    rows = json.loads(ClusterAnalysis.objects.values_list("rows", flat=True).get(pk=analysis.pk))
    expected: dict[str, float] = {}
    for row in rows:
        expected[row["service"]] = expected.get(row["service"], 0.0) + row["cost_usd_per_month"]
    return expected


def test_a_service_pages_costs_are_kept_without_the_rows(
    columns, settings, django_assert_num_queries
) -> None:
    """The Service page's bill per Service is read off the stored figures (no rows read)
    once per analysis and kept small (with the reports), equal to summing the rows."""
    settings.ROUTESCOPE_ANALYSIS_COLUMNS_KEEP = 1
    analyses = [_analysis(seed) for seed in (8, 9, 11)]
    with django_assert_num_queries(1):  # the figures column, not the rows
        costs = stored_costs(analyses[0])
    held = _held()
    assert held["costs"] == {analyses[0].pk} and not held["rows"] and not held["figures"]
    expected = _row_costs(analyses[0])
    assert costs == expected and len(costs) > 1 and any(costs.values())
    call_command("load_demo", verbosity=0)  # Services of several ports: their bills sum them
    demo = analysis_store_inline(cluster=Cluster.objects.get(name="demo"))
    assert len(stored_rows(demo)) > len(stored_figures(demo))
    assert stored_costs(demo) == _row_costs(demo) and any(stored_costs(demo).values())
    stored_rows(analyses[1])  # the other analysis' large columns evict none of the small
    stored_costs(analyses[1])
    assert _held()["costs"] >= {a.pk for a in analyses[:2]}


def test_an_analysis_stored_before_costs_in_figures_sums_its_rows(columns) -> None:
    """Figures of four values (``FORMAT`` 2): the bill is summed from the rows, as before."""
    analysis = _analysis(12)
    expected = _row_costs(analysis)
    old = {k: v[:4] for k, v in stored_figures(analysis).items()}
    ClusterAnalysis.objects.filter(pk=analysis.pk).update(figures=old)
    columns._values.clear()
    assert stored_costs(analysis) == expected and any(expected.values())


def test_metrics_series_are_kept_without_the_rows(columns) -> None:
    analysis = _analysis(10)
    series = stored_series(analysis)
    assert _held()["series"] == {analysis.pk} and not _held()["rows"]
    rows = json.loads(ClusterAnalysis.objects.values_list("rows", flat=True).get(pk=analysis.pk))
    expected = [
        (*row["service"].split("/"), row["port"], s["source"], s["dropped"], s["imbalance"])
        for row in rows
        for s in row["sources"]
        if s["dropped"] > 0 or s["imbalance"]
    ]
    assert series == expected and series
