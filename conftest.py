"""Project-wide pytest set-up (loaded by the Django suite and the Django-free engine run).

Hypothesis: under CI (``CI`` set) examples are derandomised, so a run is reproducible and
a red CI always reproduces locally with ``CI=true``; laptops explore new examples each run.

The ``database`` marker: every test that touches the test database (a ``django_db`` mark,
or a fixture that opens the database, directly or through another fixture) gets it at
collection, so ``make test-postgres`` runs just those against PostgreSQL (``-m database``);
the rest behave the same whatever the database and ran once already under ``make test``.
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if uses_database(item):
            item.add_marker(pytest.mark.database)
