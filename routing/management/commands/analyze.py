"""``manage.py analyze FILE|--cluster NAME [--json]`` — the cluster-wide report.

Every Service port × source class (pods to the ClusterIP, external clients at each node,
pods to their own cluster's external address, clients behind the cloud load balancer):
shares, drops, imbalance, locality, cost, and ranked findings. Takes the same what-if
flags as ``simulate``; ``--set`` applies to every Service, or to ``--service`` only.
A FILE needs no database. Exit 0 with the report, 2 with one line on stderr for bad input.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cluster.dump_json import collector_paused
from cluster.dump_limits import dump_limits
from cluster.kube_dump import DumpError
from routing.cli.forked import analyze_forked
from routing.cli.local import checked_when_done
from routing.engine.analysis import Report
from routing.engine.analysis.text import render_text
from routing.engine.errors import EngineError
from routing.engine.scenario import Scenario, apply_scenario
from routing.engine.snapshot import Snapshot
from routing.engine.types import IPVS_SCHEDULERS, PROXY_MODES
from routing.management.commands._rules_common import one_line_errors
from routing.whatif.cli import BAD_INPUT, SET_HELP, bad_input, whatif_from_flags


def build_scenario(
    snapshot: Snapshot,
    *,
    sets: list[str],
    service: str | None,
    proxy_mode: str | None,
    ipvs_scheduler: str | None,
) -> Scenario:
    """The what-if of the command line: ``--set`` flags on ``service`` (or on every Service)."""
    return whatif_from_flags(
        snapshot,
        sets,
        services=[service] if service else None,
        proxy_mode=proxy_mode,
        ipvs_scheduler=ipvs_scheduler,
    ).scenario()


def only_service(report: Report, service: str) -> Report:
    """``report`` narrowed to one Service's rows and findings."""
    from dataclasses import replace

    return replace(
        report,
        rows=tuple(r for r in report.rows if r.service == service),
        findings=report.findings_for(service),
    )


class Command(BaseCommand):
    help = (
        "Cluster-wide routing report: every Service and source class, drops, imbalance, "
        "locality, findings."
    )
    requires_system_checks: list = []
    requires_migrations_checks = False

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        # argparse would print the whole usage block; the contract is one line, exit 2.
        return one_line_errors(super().create_parser(prog_name, subcommand, **kwargs), "analyze")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", nargs="?", metavar="FILE|-", help="kubectl dump (JSON or YAML); - reads stdin"
        )
        parser.add_argument(
            "--cluster", default=None, metavar="NAME", help="a stored cluster instead of a file"
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help=SET_HELP + "; on every Service or on --service",
        )
        parser.add_argument(
            "--service",
            default=None,
            metavar="NS/NAME",
            help="report (and --set) only this Service, with every source class in detail",
        )
        parser.add_argument("--proxy-mode", choices=PROXY_MODES, default=None)
        parser.add_argument("--ipvs-scheduler", choices=IPVS_SCHEDULERS, default=None)
        parser.add_argument(
            "--kube-version",
            default=None,
            help="override the kube-proxy release, e.g. 1.29 (FILE only)",
        )
        parser.add_argument(
            "--endpoints", action="store_true", help="JSON: add every endpoint's share per source"
        )
        parser.add_argument(
            "--max-findings", type=int, default=None, metavar="N", help="show at most N findings"
        )

    def handle(self, *args, **options) -> None:
        if (options["file"] is None) == (options["cluster"] is None):
            raise CommandError(
                "give a dump FILE (or -) or --cluster NAME, not both", returncode=BAD_INPUT
            )
        if options["max_findings"] is not None and options["max_findings"] < 0:
            raise CommandError("--max-findings must be >= 0", returncode=BAD_INPUT)
        try:
            report = self._report(options)
        except (DumpError, EngineError) as exc:
            raise bad_input(exc) from None
        except OSError as exc:
            raise CommandError(
                f"cannot read {options['file']}: {exc.strerror or exc}", returncode=BAD_INPUT
            ) from None
        if options["service"]:
            report = only_service(report, options["service"])
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    report.to_json(
                        endpoints=options["endpoints"], max_findings=options["max_findings"]
                    )
                )
            )
        else:
            limit = options["max_findings"] if options["max_findings"] is not None else 50
            self.stdout.write(
                render_text(report, max_findings=limit, detail=bool(options["service"]))
            )

    def _report(self, options: dict) -> Report:
        sets = options["set"]
        if options["cluster"] is not None:
            return self._cluster_report(options, sets)
        overrides = {"version": options["kube_version"]} if options["kube_version"] else {}
        # The ``routescope analyze FILE`` path: one read with the importer's one-line
        # refusals (not an engine traceback), the cyclic GC off while the dump's objects
        # and the snapshot live, a large analysis over two processes.
        # Analysed while the Pod child may still check the dump: its refusal wins.
        with (
            collector_paused(),
            checked_when_done(options["file"], dump_limits(), **overrides) as snapshot,
        ):
            scenario = build_scenario(
                snapshot,
                sets=sets,
                service=options["service"],
                proxy_mode=options["proxy_mode"],
                ipvs_scheduler=options["ipvs_scheduler"],
            )
            return analyze_forked(apply_scenario(snapshot, scenario))

    def _cluster_report(self, options: dict, sets: list[str]) -> Report:
        # The database is only touched for --cluster, so FILE runs work without one.
        from cluster.models import Cluster
        from cluster.selectors import cluster_get
        from routing.reports import scenario_report
        from routing.snapshots import snapshot_for_cluster

        if options["kube_version"]:
            raise CommandError("--kube-version applies to a FILE only", returncode=BAD_INPUT)
        try:
            cluster = cluster_get(name=options["cluster"])
        except Cluster.DoesNotExist:
            raise CommandError(
                f"unknown cluster {options['cluster']!r}", returncode=BAD_INPUT
            ) from None
        scenario = build_scenario(
            snapshot_for_cluster(cluster=cluster),
            sets=sets,
            service=options["service"],
            proxy_mode=options["proxy_mode"],
            ipvs_scheduler=options["ipvs_scheduler"],
        )
        return scenario_report(cluster=cluster, scenario=scenario)
