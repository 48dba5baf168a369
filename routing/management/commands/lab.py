"""``manage.py lab verify FILE --service NS/NAME`` — build the cluster from network
namespaces, program the rendered rules, send real connections and compare with the
engine's prediction. ``--timeline --event EVENT`` (and the timeline's timing flags, as
``manage.py timeline`` takes them) does so for each moment of the disruption timeline: each
distinct step snapshot's rules are loaded in turn and real packets per source class are
compared with the step's shares. ``manage.py lab cleanup`` removes namespaces a killed run
left."""

from __future__ import annotations

import os
import signal
from contextlib import ExitStack

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from routing.cli.timeline import add_event_arguments, fields_from
from routing.engine.scenario import Scenario, apply_scenario
from routing.engine.timeline import TimelineError, moments
from routing.engine.types import TRAFFIC_POLICIES
from routing.lab import netns
from routing.lab.agents import LabAgents
from routing.lab.netns import LabError
from routing.lab.topology import PREFIX, Lab
from routing.lab.verify import format_table, parse_source, verify, verify_timeline
from routing.management.commands._rules_common import (
    BAD_INPUT,
    fail,
    load_snapshot,
    parse_sets,
    whatif,
)
from routing.timeline_input import build_request

MATRIX = [(i, e) for i in TRAFFIC_POLICIES for e in TRAFFIC_POLICIES]


def _interrupt(signum, frame):
    # Turn SIGTERM into the same unwinding as Ctrl-C so the lab's finally-cleanup runs.
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Check routing predictions with real packets in network namespaces (needs root)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        v = sub.add_parser(
            "verify", help="build the lab and compare measured traffic with the prediction"
        )
        v.add_argument("file", help="kubectl dump (JSON or YAML), or - for stdin")
        v.add_argument("--service", required=True, help="namespace/name")
        v.add_argument(
            "--source",
            action="append",
            dest="sources",
            help=(
                "pod:NODE, external:NODE, lb, or pod:NODE@OTHER (a pod on NODE calling OTHER's "
                "NodePort) (repeatable; default: every node, both kinds)"
            ),
        )
        v.add_argument(
            "--to",
            choices=["clusterip", "nodeport", "loadbalancer", "externalip"],
            default=None,
            help="send every source there (default: pods the ClusterIP, external clients "
            "the NodePort); loadbalancer meets loadBalancerSourceRanges",
        )
        v.add_argument(
            "--set",
            action="append",
            dest="sets",
            metavar="FIELD=VALUE",
            help="what-if override for the Service, e.g. externalTrafficPolicy=Local",
        )
        v.add_argument("--mode", choices=["iptables", "nftables", "both"], default="both")
        v.add_argument(
            "--requests", type=int, default=200, help="connections per source (default 200)"
        )
        v.add_argument(
            "--alpha", type=float, default=0.001, help="significance level (default 0.001)"
        )
        v.add_argument("--port", help="service port name or number (default: first TCP port)")
        v.add_argument(
            "--matrix",
            action="store_true",
            help="also run every internalTrafficPolicy x externalTrafficPolicy combination",
        )
        v.add_argument(
            "--via-agents",
            action="store_true",
            help="program each node through its node agent's queue (needs REDIS_URL)",
        )
        v.add_argument(
            "--timeline",
            action="store_true",
            help="check every moment of the disruption timeline of --event (with the timing "
            "flags below; --set then takes timeline fields too); --requests is per node",
        )
        add_event_arguments(v, required=False)
        sub.add_parser("cleanup", help=f"delete leftover {PREFIX}* namespaces")

    def handle(self, *args, **opts):
        if opts["action"] == "cleanup":
            left = netns.existing(PREFIX)
            failed = netns.delete(left)
            self.stdout.write(f"removed {len(left) - len(failed)} namespace(s)")
            if failed:
                raise CommandError(f"could not remove: {', '.join(failed)}", returncode=1)
            return
        if os.geteuid() != 0:
            raise fail("the lab needs root (network namespaces, iptables, nft)")
        if opts["requests"] < 1 or not 0 < opts["alpha"] < 1:
            raise fail("--requests must be >= 1 and --alpha between 0 and 1")
        snapshot = load_snapshot(opts["file"])
        if opts["service"] not in snapshot.services:
            raise fail(f"unknown service {opts['service']!r}")
        for source in opts["sources"] or ():
            plain, via = parse_source(source)
            kind, _, node = plain.partition(":")
            if source != "lb" and (
                kind not in ("pod", "external")
                or node not in snapshot.nodes
                or (via is not None and (kind != "pod" or via not in snapshot.nodes))
            ):
                raise fail(
                    f"--source {source!r}: expected pod:NODE or external:NODE "
                    "with a node of the dump, pod:NODE@OTHER, or lb"
                )
        modes = ("iptables", "nftables") if opts["mode"] == "both" else (opts["mode"],)
        if opts["timeline"]:
            return self._timeline(opts, modes)
        snapshot = whatif(snapshot, parse_sets(opts["sets"]), opts["service"])
        variants = [("as given", snapshot)]
        if opts["matrix"]:
            for itp, etp in MATRIX:
                scenario = Scenario(
                    service_overrides={
                        opts["service"]: {
                            "internalTrafficPolicy": itp,
                            "externalTrafficPolicy": etp,
                        }
                    }
                )
                variants.append((f"iTP={itp} eTP={etp}", apply_scenario(snapshot, scenario)))
        if opts["via_agents"] and not settings.REDIS_URL:
            raise fail("--via-agents needs REDIS_URL (a real broker the node agents consume from)")
        old = signal.signal(signal.SIGTERM, _interrupt)
        agree = True
        try:
            with Lab(snapshot, opts["service"]) as lab, ExitStack() as stack:
                programmer = None
                if opts["via_agents"]:
                    programmer = stack.enter_context(LabAgents(lab, broker_url=settings.REDIS_URL))
                for label, variant in variants:
                    results = verify(
                        lab,
                        variant,
                        modes=modes,
                        sources=opts["sources"],
                        requests=opts["requests"],
                        alpha=opts["alpha"],
                        port=opts["port"],
                        programmer=programmer,
                        to=opts["to"],
                    )
                    self.stdout.write(f"== {opts['service']} ({label}) ==")
                    self.stdout.write(format_table(results, alpha=opts["alpha"]))
                    agree = agree and all(r.ok for r in results)
        except KeyboardInterrupt:
            raise CommandError("interrupted; lab namespaces removed", returncode=130) from None
        except LabError as exc:
            raise CommandError(f"lab: {exc}", returncode=1) from None
        except BAD_INPUT as exc:
            raise fail(str(exc)) from None
        finally:
            signal.signal(signal.SIGTERM, old)
        if not agree:
            raise CommandError(
                "measured traffic DISAGREES with the prediction (see table)", returncode=1
            )
        self.stdout.write("all sources agree with the prediction")

    def _timeline(self, opts: dict, modes: tuple[str, ...]) -> None:
        """Per mode: the timeline's moments for that mode, each moment's rules loaded and
        measured against its step."""
        if not opts["event"]:
            raise fail("--timeline needs --event (drain:NODE, node-down:NODE, rollout, ...)")
        if opts["matrix"] or opts["via_agents"] or opts["sources"]:
            raise fail(
                "--timeline checks every source class itself: no --matrix, "
                "--via-agents or --source"
            )
        runs = []
        try:
            request = build_request(
                fields_from(opts, opts["service"], opts["port"], parse_sets(opts["sets"]))
            )
            for mode in modes:
                snapshot = load_snapshot(opts["file"], proxy_mode=mode)
                runs.append((mode, snapshot, moments(snapshot, request)))
        except (TimelineError, *BAD_INPUT) as exc:
            raise fail(" ".join(str(exc).split())) from None
        old = signal.signal(signal.SIGTERM, _interrupt)
        agree = True
        try:
            for mode, snapshot, steps in runs:
                also = [m.snapshot for m in steps]
                with Lab(snapshot, opts["service"], also=also) as lab:
                    results = verify_timeline(
                        lab, steps, mode=mode, requests=opts["requests"], alpha=opts["alpha"]
                    )
                self.stdout.write(
                    f"== {opts['service']} {opts['event']} ({mode}, {len(steps)} moments) =="
                )
                self.stdout.write(format_table(results, alpha=opts["alpha"]))
                agree = agree and all(r.ok for r in results)
        except KeyboardInterrupt:
            raise CommandError("interrupted; lab namespaces removed", returncode=130) from None
        except LabError as exc:
            raise CommandError(f"lab: {exc}", returncode=1) from None
        finally:
            signal.signal(signal.SIGTERM, old)
        if not agree:
            raise CommandError(
                "measured traffic DISAGREES with the timeline (see table)", returncode=1
            )
        self.stdout.write("every moment agrees with the timeline")
