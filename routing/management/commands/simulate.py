"""``manage.py simulate FILE|- --service NS/NAME --source SOURCE ...`` — one what-if answer.

Runs on a dump file without touching the database. Exit 0 when the question was answered
(also when everything drops), 2 with one line on stderr for bad input.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cluster.dump_limits import dump_limits
from cluster.kube_dump import DumpError, read_objects
from cluster.writer import check_objects
from routing.cli.output import summary_lines  # shared with routescope
from routing.engine.errors import EngineError
from routing.engine.kube import snapshot_from_objects
from routing.engine.types import IPVS_SCHEDULERS, PROXY_MODES
from routing.management.commands._rules_common import one_line_errors
from routing.whatif.cli import BAD_INPUT, SET_HELP, bad_input, whatif_from_flags
from routing.whatif.flags import add_question_flags
from routing.whatif.preview import ask
from routing.whatif.value import parse_set_flags


class Command(BaseCommand):
    help = (
        "Where new connections from SOURCE to a Service land, and what drops (no database needed)."
    )
    requires_system_checks: list = []
    requires_migrations_checks = False

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        # argparse would print the whole usage block; the contract is one line, exit 2.
        return one_line_errors(super().create_parser(prog_name, subcommand, **kwargs), "simulate")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", metavar="FILE|-", help="kubectl dump (JSON or YAML); - reads stdin"
        )
        parser.add_argument("--service", required=True, help="NAMESPACE/NAME")
        parser.add_argument(
            "--source",
            required=True,
            help="pod:NODE, external:NODE or lb (also host:NODE, a host-network process)",
        )
        parser.add_argument(
            "--to", default=None, help="clusterip, nodeport, loadbalancer or externalip"
        )
        parser.add_argument("--port", default=None, help="port name or number (needed if several)")
        parser.add_argument(
            "--set", action="append", default=[], metavar="FIELD=VALUE", help=SET_HELP
        )
        parser.add_argument("--proxy-mode", choices=PROXY_MODES, default=None)
        parser.add_argument("--ipvs-scheduler", choices=IPVS_SCHEDULERS, default=None)
        parser.add_argument(
            "--node-proxy-mode",
            action="append",
            default=[],
            metavar="NODE=MODE",
            help="kube-proxy mode of one node (a cluster halfway through a migration)",
        )
        parser.add_argument(
            "--kube-version", default=None, help="override the kube-proxy release, e.g. 1.29"
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="seed of the IPVS request-level simulation"
        )
        add_question_flags(parser)
        parser.add_argument("--json", action="store_true", help="print the JSON answer")

    def handle(self, *args, **options) -> None:
        try:
            source = sys.stdin.buffer if options["file"] == "-" else options["file"]
            objects = read_objects(source, limits=dump_limits())
            check_objects(
                objects, dump_limits()
            )  # the importer's one-line refusals, not an engine traceback
            overrides: dict = (
                {"version": options["kube_version"]} if options["kube_version"] else {}
            )
            if options["node_proxy_mode"]:
                overrides["node_proxy_modes"] = parse_set_flags(
                    options["node_proxy_mode"], flag="--node-proxy-mode", shape="NODE=MODE"
                )
            snapshot = snapshot_from_objects(objects, **overrides)
            # The same door as POST /api/v1/simulate: one what-if value, one ask.
            whatif = whatif_from_flags(
                snapshot,
                options["set"],
                services=[options["service"]] if options["set"] else [],
                proxy_mode=options["proxy_mode"],
                ipvs_scheduler=options["ipvs_scheduler"],
            )
            answer = ask(
                snapshot,
                whatif,
                service=options["service"],
                source=options["source"],
                to=options["to"],
                port=options["port"],
                seed=options["seed"],
                family=options["family"],
                client_ip=options["client_ip"],
                via_node=options["via_node"],
            )
        except (DumpError, EngineError) as exc:
            raise bad_input(exc) from None
        except OSError as exc:
            raise CommandError(
                f"cannot read {options['file']}: {exc.strerror or exc}", returncode=BAD_INPUT
            ) from None
        if options["json"]:
            self.stdout.write(json.dumps(answer))
        else:
            self.stdout.write("\n".join(summary_lines(answer)))
