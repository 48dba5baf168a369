"""``manage.py timeline FILE|--cluster NAME --service NS/NAME --event EVENT ... --json`` —
what a rollout, drain, node failure, zone outage or scale-down does to a Service over time.

FILE runs need no database. Exit 0 with the timeline, 2 with one line on stderr for bad input.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cluster.kube_dump import DumpError, read_objects
from cluster.writer import check_objects
from routing.cli.output import timeline_lines as summary_lines  # shared with routescope
from routing.engine.errors import ScenarioError
from routing.engine.kube import SnapshotError, snapshot_from_objects
from routing.engine.timeline import LB_PRESETS, TimelineError
from routing.management.commands._rules_common import one_line_errors
from routing.timeline_input import timeline_json

BAD_INPUT = 2


class Command(BaseCommand):
    help = (
        "What a rollout / drain / node or zone outage / scale-down does to a Service,"
        " second by second."
    )
    requires_system_checks: list = []
    requires_migrations_checks = False

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        return one_line_errors(super().create_parser(prog_name, subcommand, **kwargs), "timeline")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file",
            nargs="?",
            default=None,
            metavar="FILE|-",
            help="kubectl dump (JSON or YAML); - reads stdin",
        )
        parser.add_argument(
            "--cluster", default=None, metavar="NAME", help="a stored cluster instead of a file"
        )
        parser.add_argument("--service", required=True, help="NAMESPACE/NAME")
        parser.add_argument(
            "--event",
            required=True,
            help="drain:NODE, node-down:NODE, zone-down:ZONE, rollout, scale:N or scale-in:NODE",
        )
        parser.add_argument("--port", default=None, help="port name or number (default: the first)")
        parser.add_argument(
            "--lb-preset",
            default=None,
            help=f"cloud load-balancer defaults: {', '.join(LB_PRESETS)}",
        )
        parser.add_argument(
            "--probe-interval", default=None, metavar="S", help="LB health-check interval (seconds)"
        )
        parser.add_argument(
            "--unhealthy-threshold",
            default=None,
            metavar="N",
            help="failed probes before the LB stops sending",
        )
        parser.add_argument(
            "--healthy-threshold",
            default=None,
            metavar="N",
            help="good probes before the LB sends again",
        )
        parser.add_argument(
            "--grace", default=None, metavar="S", help="terminationGracePeriodSeconds (default 30)"
        )
        parser.add_argument(
            "--prestop", default=None, metavar="S", help="preStop sleep (default 0)"
        )
        parser.add_argument(
            "--on-sigterm",
            default=None,
            choices=("stop", "serve"),
            help="the app stops accepting at SIGTERM (default) or serves until it exits",
        )
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help=(
                "a Service field (externalTrafficPolicy, ...)"
                " or a timing field (readiness_delay_s, max_surge, ...)"
            ),
        )
        parser.add_argument("--json", action="store_true", help="print the JSON timeline")

    def handle(self, *args, **options) -> None:
        try:
            if (options["file"] is None) == (options["cluster"] is None):
                raise TimelineError("give a dump FILE (or -) or --cluster NAME, not both")
            sets = {}
            for item in options["set"]:
                name, sep, value = item.partition("=")
                if not sep or not name.strip():
                    raise TimelineError(f"--set {item!r} is not FIELD=VALUE")
                sets[name.strip()] = value.strip()
            fields = {
                "service": options["service"],
                "event": options["event"],
                "port": options["port"],
                "lb_preset": options["lb_preset"],
                "probe_interval": options["probe_interval"],
                "unhealthy_threshold": options["unhealthy_threshold"],
                "healthy_threshold": options["healthy_threshold"],
                "grace": options["grace"],
                "prestop": options["prestop"],
                "on_sigterm": options["on_sigterm"],
                "set": sets,
            }
            out = timeline_json(self._snapshot(options), fields)
        except (DumpError, SnapshotError, ScenarioError, TimelineError) as exc:
            raise CommandError(" ".join(str(exc).split()), returncode=BAD_INPUT) from None
        except OSError as exc:
            raise CommandError(
                f"cannot read {options['file']}: {exc.strerror or exc}", returncode=BAD_INPUT
            ) from None
        self.stdout.write(json.dumps(out) if options["json"] else "\n".join(summary_lines(out)))

    def _snapshot(self, options: dict):
        if options["cluster"] is not None:
            # The database is only touched for --cluster, so FILE runs work without one.
            from cluster.models import Cluster
            from cluster.selectors import cluster_get
            from routing.snapshots import snapshot_for_cluster

            try:
                cluster = cluster_get(name=options["cluster"])
            except Cluster.DoesNotExist:
                raise TimelineError(f"unknown cluster {options['cluster']!r}") from None
            return snapshot_for_cluster(cluster=cluster)
        objects = read_objects(sys.stdin.buffer if options["file"] == "-" else options["file"])
        check_objects(objects)
        return snapshot_from_objects(objects)
