"""The test harness that points this process at a real broker must leave eager mode working."""

from __future__ import annotations

from django.test import override_settings

from cluster.testing.workers import publishing_to
from config.celery import app


@app.task(name="tests.echo")
def echo(value: int) -> int:
    """A trivial task: eager calls return the value."""
    return value


def test_eager_tasks_still_run_after_publishing_to_a_broker() -> None:
    # Regression: kombu's process-wide producer pool kept the connection pool closed by
    # the harness, so the next eager apply_async failed with "Acquire on closed pool".
    with publishing_to("redis://127.0.0.1:6379/5"):
        assert app.conf.task_always_eager is False
    assert app.conf.task_always_eager is True
    assert echo.apply_async(args=(3,)).get() == 3
    with publishing_to("redis://127.0.0.1:6379/5"):
        pass
    assert echo.apply_async(args=(4,)).get() == 4


def test_an_overridden_celery_setting_reaches_the_app_and_so_does_its_restore() -> None:
    # The app copies its configuration from the Django settings once: without following
    # the overrides, a process whose first use fell inside one (a worker test's
    # CELERY_TASK_ALWAYS_EAGER = False) sent every later eager task to a broker.
    assert app.conf.task_always_eager is True
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        assert app.conf.task_always_eager is False
    assert app.conf.task_always_eager is True
    assert echo.apply_async(args=(5,)).get() == 5
