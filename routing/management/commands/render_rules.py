"""``manage.py render_rules FILE --node NODE --mode iptables|nftables|ipvs`` — the rules
kube-proxy would program on NODE, as iptables-restore / nft -f / ipvsadm-restore input."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from routing.engine.rules import RulesError, render_node_rules
from routing.engine.rules.diff import diff_rules
from routing.engine.rules.model import MODES
from routing.management.commands._rules_common import (
    fail,
    load_snapshot,
    one_line_errors,
    parse_sets,
    whatif,
)


class Command(BaseCommand):
    help = "Print the rules kube-proxy would program on one node (no database needed)."
    # Reads a file and prints text: no models, so no system checks (they may need the DB).
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        return one_line_errors(
            super().create_parser(prog_name, subcommand, **kwargs), "render_rules"
        )

    def add_arguments(self, parser):
        parser.add_argument("file", help="kubectl dump (JSON or YAML), or - for stdin")
        parser.add_argument("--node", required=True)
        parser.add_argument("--mode", required=True, choices=MODES)
        parser.add_argument("--service", help="only this Service (namespace/name)")
        parser.add_argument(
            "--set",
            action="append",
            dest="sets",
            metavar="FIELD=VALUE",
            help="what-if Service override, e.g. internalTrafficPolicy=Local (repeatable)",
        )
        parser.add_argument(
            "--format",
            choices=["text", "json"],
            default="text",
            help="json adds the policy reason of every line",
        )
        parser.add_argument(
            "--diff",
            action="store_true",
            help="print the unified diff between the dump and the --set what-if instead",
        )
        parser.add_argument(
            "--companions",
            action="store_true",
            help="ipvs: also print the ipset and iptables companions (after the ipvsadm text)",
        )

    def handle(self, *args, **opts):
        sets = parse_sets(opts["sets"])
        baseline = load_snapshot(opts["file"])
        snapshot = whatif(baseline, sets, opts["service"])
        try:
            if opts["diff"]:
                self.stdout.write(
                    diff_rules(
                        baseline,
                        snapshot,
                        opts["mode"],
                        nodes=[opts["node"]],
                        service=opts["service"],
                    ).node_diff(opts["node"]),
                    ending="",
                )
                return
            ruleset = render_node_rules(
                snapshot, opts["node"], opts["mode"], service=opts["service"]
            )
        except RulesError as exc:
            raise fail(str(exc)) from None
        if opts["format"] == "json":
            payload = {
                "node": ruleset.node,
                "mode": ruleset.mode,
                "text": ruleset.text,
                "notes": list(ruleset.notes),
                "lines": [
                    {"text": r.text, "service": r.service, "reason": r.reason, "why": r.why}
                    for r in ruleset.lines
                ],
                "companions": ruleset.companions,
            }
            self.stdout.write(json.dumps(payload, indent=1))
            return
        self.stdout.write(ruleset.text, ending="")
        if opts["companions"] and ruleset.companions:
            for name, text in ruleset.companions.items():
                self.stdout.write(f"# --- {name} ---\n{text}", ending="")
