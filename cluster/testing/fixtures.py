"""pytest fixtures for live-cluster tests; import the ones a test module uses.

``fake_api`` serves ``sample_cluster()`` on a random loopback port with a bearer token;
``kubeconfig`` points the official client at it; ``live_cluster`` is a Cluster row added
the way ``add_cluster`` adds one.
"""

from __future__ import annotations

import pytest

from cluster.testing.fake_apiserver import FakeApiServer
from cluster.testing.objects import sample_cluster

TOKEN = "rs-test-token-6f1e2d9c8b7a"  # must never show up in the DB, logs or pages


@pytest.fixture
def fake_api():
    """A running fake API server with the sample cluster, stopped after the test."""
    server = FakeApiServer(sample_cluster(), token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def kubeconfig(fake_api, tmp_path):
    """A kubeconfig file (context ``fake``, token user) for ``fake_api``."""
    return fake_api.write_kubeconfig(tmp_path / "kubeconfig", context="fake")


@pytest.fixture
def live_cluster(db, kubeconfig):
    """A Cluster registered with ``cluster_add_live`` (no periodic schedule)."""
    from cluster.sync_jobs import cluster_add_live

    return cluster_add_live(name="live", kubeconfig_path=str(kubeconfig), context="fake")
