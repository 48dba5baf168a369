"""CI's contract (.ci/run, the Makefile, conftest.py's ``database`` marker), checked without
running the suite: `make test` (the README's command) runs first and whole, then
`make test-postgres` runs only the tests that use the database, on PostgreSQL."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]


def _make_dry_run(target: str) -> list[str]:
    """The commands ``make -n TARGET`` would run (nothing is run)."""
    out = subprocess.run(
        ["make", "-n", "-C", str(REPO), target],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return out.splitlines()


def test_ci_runs_make_test_then_the_postgresql_pass() -> None:
    commands = [
        line.strip()
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "echo"))
    ]
    makes = [c for c in commands if re.search(r"\bmake\b", c)]
    assert makes == [
        "make test",
        'DATABASE_URL="postgres://postgres@127.0.0.1:5432/routescope_ci" make test-postgres',
    ]
    assert "set -euo pipefail" in commands  # a red first pass stops CI


def test_make_test_lints_and_runs_both_suites() -> None:
    commands = _make_dry_run("test")
    pytest_runs = [c for c in commands if "bin/pytest" in c]
    assert any("lint-imports" in c for c in commands)
    assert any("ruff format --check" in c for c in commands)
    assert len(pytest_runs) == 2
    assert "routing/tests/engine" in pytest_runs[0] and "-p no:django" in pytest_runs[0]
    assert "--ignore=routing/tests/engine" in pytest_runs[1]
    assert "-n 3 --dist loadgroup" in pytest_runs[1]  # the Django suite on xdist workers
    assert not any("-m database" in c for c in pytest_runs)  # the whole suite


def test_make_test_postgres_runs_only_database_tests_and_no_lint() -> None:
    commands = _make_dry_run("test-postgres")
    pytest_runs = [c for c in commands if "bin/pytest" in c]
    assert not any(tool in c for c in commands for tool in ("lint-imports", "ruff", "mypy"))
    assert len(pytest_runs) == 1
    assert "-m database" in pytest_runs[0] and "--ignore=routing/tests/engine" in pytest_runs[0]
    assert "-n 3 --dist loadgroup" in pytest_runs[0]


def test_the_postgresql_pass_defaults_to_the_ci_database() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert (
        "POSTGRES_URL := $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/routescope_ci)"
        in makefile
    )
    assert "test-postgres: export DATABASE_URL := $(POSTGRES_URL)" in makefile


def test_the_conftest_marks_database_tests_and_groups_netns_tests_on_xdist(
    pytester: pytest.Pytester,
) -> None:
    """One inner run on real xdist workers: each sample test asserts the marks it must
    carry (or not), and the report shows which worker ran which group."""
    # The project's conftest.py as is; stand-ins for pytest-django's fixtures (the hook
    # reads names only), so the inner run needs no Django.
    pytester.makeconftest((REPO / "conftest.py").read_text())
    pytester.makepyfile(
        test_sample="""
        import pytest

        @pytest.fixture
        def db():
            pass

        @pytest.fixture
        def transactional_db():
            pass

        @pytest.fixture
        def live_server():
            pass

        @pytest.fixture
        def demo(db):
            return "demo"

        @pytest.fixture
        def settings():
            return {}

        def database(request):
            return request.node.get_closest_marker("database") is not None

        @pytest.mark.django_db
        def test_marked(request):
            assert database(request)

        @pytest.mark.django_db(transaction=True)
        class TestMarkedClass:
            def test_in_class(self, request):
                assert database(request)

        def test_db_fixture(db, request):
            assert database(request)

        def test_through_a_project_fixture(demo, request):
            assert database(request)

        def test_transactional(transactional_db, request):
            assert database(request)

        def test_live_server(live_server, request):
            assert database(request)

        def test_pure(request):
            assert not database(request)

        def test_settings_only(settings, request):
            assert not database(request)

        @pytest.mark.netns
        def test_kernel_a(request):
            assert not database(request)

        @pytest.mark.netns
        def test_kernel_b():
            pass

        @pytest.mark.netns
        @pytest.mark.xdist_group("own")
        def test_kernel_in_its_own_group():
            pass
        """
    )
    # Real xdist workers: the groups must be set before pytest-xdist reads them, and reach
    # the scheduler through pytest 9.2's node ids.
    result = pytester.runpytest_subprocess(
        "-p", "no:django", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup", "-v"
    )
    result.assert_outcomes(passed=11)
    # "[gw1] [ 25%] PASSED test_sample.py::test_kernel_a@netns": worker and reported id.
    ran_on = {
        line.split("PASSED ")[-1].split("::")[-1].strip(): line.split("]")[0].lstrip("[")
        for line in result.outlines
        if "PASSED" in line
    }
    assert {name for name in ran_on if "@" in name} == {
        "test_kernel_a@netns",
        "test_kernel_b@netns",
        "test_kernel_in_its_own_group@own",
    }
    assert ran_on["test_kernel_a@netns"] == ran_on["test_kernel_b@netns"]
