"""``manage.py node_agent --node NODE [--netns NS] [--allow-write]`` — run the Celery worker
that acts for one node: it consumes only ``node.<NODE>`` and reports rules drift.

Read-only by default; ``--allow-write`` lets it apply rules (the lab uses it with
``--netns`` pointing at a lab node namespace). The worker runs with the agent's own
settings (``config.settings.agent``): the broker only, no database, no web secrets."""

from __future__ import annotations

import os
import shutil

from django.core.management.base import BaseCommand, CommandError

from routing.agent.node import NETNS_ENV, WRITE_ENV, worker_argv


class Command(BaseCommand):
    help = "Start the node agent (a Celery worker on queue node.<NODE>)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--node", required=True)
        parser.add_argument(
            "--netns", help="act for this network namespace instead of the host (lab)"
        )
        parser.add_argument(
            "--allow-write",
            action="store_true",
            help="allow apply_node_rules (never needed on real nodes)",
        )
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args, **opts):
        celery = shutil.which(
            "celery",
            path=os.path.dirname(os.sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        )
        if celery is None:
            raise CommandError("celery executable not found", returncode=2)
        env = dict(os.environ)
        env[WRITE_ENV] = "1" if opts["allow_write"] else "0"
        if opts["netns"]:
            env[NETNS_ENV] = opts["netns"]
        env["DJANGO_SETTINGS_MODULE"] = "config.settings.agent"
        os.execvpe(celery, worker_argv(celery, opts["node"], loglevel=opts["loglevel"]), env)
