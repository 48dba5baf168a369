"""``manage.py worker_ping [--name NAME] [--timeout SECONDS]``: exit 0 when the named
Celery worker answers a broker ping, 1 otherwise. For a liveness probe: the default name
is the one ``celery worker`` takes on this host (``celery@<hostname>``)."""

from __future__ import annotations

import socket

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Ping one Celery worker through the broker (exit 1 when it does not answer)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--name",
            default=f"celery@{socket.gethostname()}",
            help="worker node name (default: celery@<this host>)",
        )
        parser.add_argument(
            "--agent-node",
            metavar="NODE",
            help="ping this node's agent instead (agent-<NODE>@<this host>)",
        )
        parser.add_argument("--timeout", type=float, default=5.0)

    def handle(self, *args, name, agent_node, timeout, **opts):
        from django.conf import settings

        from config.celery import app

        if agent_node:
            name = f"agent-{agent_node}@{socket.gethostname()}"

        if not getattr(settings, "REDIS_URL", ""):
            raise CommandError(
                "no REDIS_URL: tasks run in-process and there is no worker to ping", returncode=1
            )
        replies = app.control.ping(destination=[name], timeout=timeout)
        if not any(name in reply for reply in replies):
            raise CommandError(f"worker {name} did not answer within {timeout:g}s", returncode=1)
        self.stdout.write(f"{name}: pong")
