"""An import runs under ``cluster.writer.write_session`` and leaves the process as it was.

During the write the cyclic garbage collector is off and, on SQLite, the connection's page
cache is ``SQLITE_IMPORT_CACHE_KIB``; afterwards both are what they were — after a stored
import, a refused one (a bad object midway through the Pods, inside the command's own
transaction too) and a database error — and a refused import changes no stored row.
"""

from __future__ import annotations

import copy
import gc
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection

from cluster import writer
from cluster.fields import ObjectError
from cluster.models import Cluster
from cluster.services import cluster_import, cluster_replace_state
from cluster.tests import builders as b
from cluster.tests.state import database_state

pytestmark = pytest.mark.django_db


def _cache_size() -> int | None:
    """The connection's PRAGMA cache_size (None on other databases than SQLite)."""
    if connection.vendor != "sqlite":
        return None
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        return cursor.fetchone()[0]


@pytest.fixture
def seen(monkeypatch) -> Iterator[list[tuple[bool, int | None]]]:
    """(gc enabled, cache size) as each Pod row is built during an import."""
    record: list[tuple[bool, int | None]] = []
    real = writer.pod_row

    def pod_row(*args: Any) -> dict[str, Any]:
        record.append((gc.isenabled(), _cache_size()))
        return real(*args)

    monkeypatch.setattr(writer, "pod_row", pod_row)
    assert gc.isenabled()
    initial = _cache_size()
    assert initial != _during()[1] or initial is None
    yield record
    gc.enable()  # never leave a test process without its collector, whatever happened
    assert _cache_size() == initial  # what the connection had before the first import


def _during() -> tuple[bool, int | None]:
    return False, (-writer.SQLITE_IMPORT_CACHE_KIB if connection.vendor == "sqlite" else None)


def _bad_pods() -> list[dict[str, Any]]:
    objects = b.small_cluster()
    bad = copy.deepcopy(objects[-1])
    bad["metadata"]["name"] = "web-3"
    bad["status"]["podIP"] = "not-an-ip"
    return [*objects, bad, b.pod("web-4", node_name="n1", ip="10.244.1.9")]


def test_a_stored_import_runs_without_the_collector_and_restores_it(seen):
    before = _cache_size()
    cluster_import(name="c", objects=b.small_cluster())
    assert seen and set(seen) == {_during()}
    assert gc.isenabled() and _cache_size() == before
    assert Cluster.objects.get(name="c").pods.count() == 2


def test_a_refused_import_restores_both_and_changes_nothing(seen):
    cluster_import(name="c", objects=b.small_cluster())
    before, state = _cache_size(), database_state()
    seen.clear()
    with pytest.raises(ObjectError, match=r"Pod shop/web-3: status.podIP 'not-an-ip'"):
        cluster_import(name="c", objects=_bad_pods())
    assert len(seen) == 3 and set(seen) == {_during()}  # refused at the third Pod
    assert gc.isenabled() and _cache_size() == before
    assert database_state() == state
    with pytest.raises(ObjectError):
        cluster_replace_state(cluster=Cluster.objects.get(name="c"), objects=_bad_pods())
    assert gc.isenabled() and _cache_size() == before
    assert database_state() == state


def test_the_command_refusing_inside_its_transaction_restores_both(seen, tmp_path):
    call_command(
        "import_cluster", _dump(tmp_path, b.small_cluster()), "--name", "c", stdout=io.StringIO()
    )
    before, state = _cache_size(), database_state()
    with pytest.raises(CommandError, match="status.podIP"):
        call_command("import_cluster", _dump(tmp_path, _bad_pods()), "--name", "c")
    assert gc.isenabled() and _cache_size() == before
    assert database_state() == state


def test_a_database_error_midway_restores_both(seen, monkeypatch):
    cluster_import(name="c", objects=b.small_cluster())
    before, state = _cache_size(), database_state()

    def broken(*args: Any, **kwargs: Any) -> int:
        raise DatabaseError("disk full")

    monkeypatch.setattr(writer, "insert_rows", broken)
    with pytest.raises(DatabaseError, match="disk full"):
        cluster_import(name="c", objects=b.small_cluster())
    assert gc.isenabled() and _cache_size() == before
    assert database_state() == state


def test_a_collector_already_off_stays_off(seen):
    gc.disable()
    cluster_import(name="c", objects=b.small_cluster())
    assert not gc.isenabled()
    with pytest.raises(ObjectError):
        cluster_import(name="d", objects=_bad_pods())
    assert not gc.isenabled()
    assert set(seen) == {_during()}


def _dump(tmp_path, objects: list[dict[str, Any]]) -> str:
    path = tmp_path / f"dump-{len(objects)}.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    return str(path)
