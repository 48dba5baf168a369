"""Project-wide pytest set-up (loaded by the Django suite and the Django-free engine run).

Hypothesis: under CI (``CI`` set) examples are derandomised, so a run is reproducible and
a red CI always reproduces locally with ``CI=true``; laptops explore new examples each run.

The ``database`` marker: every test that touches the test database (a ``django_db`` mark,
or a fixture that opens the database, directly or through another fixture) gets it at
collection, so ``make test-postgres`` runs just those against PostgreSQL (``-m database``);
the rest behave the same whatever the database and ran once already under ``make test``.

pytest-xdist (``make test`` runs the Django suite with ``-n``, ``--dist loadgroup``): every
``netns`` test is put in one ``xdist_group`` here (they load rules into the kernel: one at a
time); modules whose tests share a costly module fixture (a Celery worker, a generated big
cluster) name their own group. pytest-xdist 3.8 marks a test's group by appending
``@GROUP`` to ``item._nodeid``, which pytest 9.2 no longer reads (its node ids are
structured, ``item._id``): without ``pytest_keep_xdist_groups`` below every group is silently
ignored (pytest-dev/pytest-xdist#1386, not fixed in a release yet).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

#: pytest-django's fixtures that open (or set up) the test database. ``item.fixturenames``
#: is the closure of what a test requests, so a project fixture built on one of them (the
#: dashboard's ``demo``, a module-scoped worker on ``django_db_setup``) counts too.
DATABASE_FIXTURES = frozenset(
    {
        "db",
        "transactional_db",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
        "django_db_setup",
        "live_server",
        "admin_user",
        "admin_client",
    }
)


def uses_database(item: pytest.Item) -> bool:
    """Whether ``item`` touches the test database (its marks or its fixtures)."""
    if item.get_closest_marker("django_db") is not None:
        return True
    return not DATABASE_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if uses_database(item):
            item.add_marker(pytest.mark.database)
        # Under pytest-xdist (`--dist loadgroup`) the tests that build network namespaces
        # and load rules into the kernel run one after another on one worker.
        if item.get_closest_marker("netns") and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group("netns"))


# After pytest-xdist wrote the groups into item._nodeid (a hook under another name: the
# function name must start with "pytest_" for pytest to register it).
@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_keep_xdist_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Carry pytest-xdist's ``TEST@GROUP`` ids into pytest 9.2's structured node ids."""
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # an older pytest reads item._nodeid itself
        return
    for item in items:
        legacy = item.__dict__.get("_nodeid")
        if isinstance(legacy, str) and legacy != item.nodeid and hasattr(item, "_id"):
            item._id = NodeId.parse(legacy)
