"""Fixtures of the dashboard tests: the demo cluster, a reader and an operator."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command

from cluster.models import Cluster
from dashboard.selectors import overview_cache_clear
from routing.reports import report_cache_clear
from routing.snapshots import snapshot_cache_clear


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Cluster ids and revisions repeat across tests (rolled-back transactions), so the
    # per-revision caches of snapshots and reports must not leak from one test to the next.
    for clear in (snapshot_cache_clear, report_cache_clear, overview_cache_clear):
        clear()
    yield
    for clear in (snapshot_cache_clear, report_cache_clear, overview_cache_clear):
        clear()


@pytest.fixture
def demo(db) -> Cluster:
    """The demo cluster, loaded the way ``make run`` loads it."""
    call_command("load_demo", verbosity=0)
    return Cluster.objects.get(name="demo")


@pytest.fixture
def reader(db) -> User:
    """A logged-in user without the operate permission."""
    return User.objects.create_user("reader", password="reader-pass-1")


@pytest.fixture
def operator(db) -> User:
    """A user allowed to sync clusters and apply changes."""
    user = User.objects.create_user("operator", password="operator-pass-1")
    user.user_permissions.add(Permission.objects.get(codename="operate_cluster"))
    return user
