"""``routescope``: Routescope from scripts and pipelines (DESIGN.md, "Contracts added later").

``routescope simulate | analyze | whatif | render-rules | check | timeline`` answer on a
kubectl dump FILE without booting Django, or with ``--server URL --token T`` ask a
Routescope REST API; both print the API's JSON with ``-o json``. Exit 0 ok, 1 check
failed, 2 bad input (one line on stderr). ``ROUTESCOPE_SERVER`` / ``ROUTESCOPE_TOKEN``
stand in for the two flags.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from routing.cli import errors, output
from routing.cli.errors import CliError

#: What file mode refuses as bad input (the dump reader's, the engine's, a bad path).
_INPUT_ERRORS: tuple[type[Exception], ...] = (ValueError, OSError)


class Parser(argparse.ArgumentParser):
    """argparse with the contract's refusal: one line on stderr, exit 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {message}\n")
        raise SystemExit(errors.BAD_INPUT)


def _common(parser: argparse.ArgumentParser, *, formats: Sequence[str] = output.FORMATS) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=formats,
        default="table",
        help="output format (json is the API's body)",
    )
    parser.add_argument(
        "--server",
        default=os.environ.get("ROUTESCOPE_SERVER"),
        metavar="URL",
        help="ask this Routescope server instead of reading a FILE",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("ROUTESCOPE_TOKEN"),
        metavar="T",
        help="API token for --server (or ROUTESCOPE_TOKEN)",
    )


def _source_args(parser: argparse.ArgumentParser, *, server_only: str) -> None:
    parser.add_argument("file", nargs="?", metavar="FILE|-", help="kubectl dump (JSON or YAML)")
    parser.add_argument("--cluster", metavar="NAME", help=f"a stored cluster ({server_only})")


def _whatif_args(parser: argparse.ArgumentParser) -> None:
    from routing.engine.types import IPVS_SCHEDULERS, PROXY_MODES

    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="sets",
        metavar="FIELD=VALUE",
        help="what-if Service field, repeatable, e.g. externalTrafficPolicy=Local",
    )
    parser.add_argument("--proxy-mode", choices=PROXY_MODES, default=None)
    parser.add_argument("--ipvs-scheduler", choices=IPVS_SCHEDULERS, default=None)


def build_parser() -> Parser:
    """The command line of ``routescope``."""
    from routing.whatif.flags import add_question_flags

    parser = Parser(prog="routescope", description=__doc__.split("\n\n")[1])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    sim = sub.add_parser("simulate", help="where new connections from a source land")
    _source_args(sim, server_only="with --server")
    sim.add_argument("--service", required=True, metavar="NS/NAME")
    sim.add_argument("--source", required=True, help="pod:NODE, external:NODE, lb or host:NODE")
    sim.add_argument("--to", default=None, help="clusterip, nodeport, loadbalancer or externalip")
    sim.add_argument("--port", default=None)
    _whatif_args(sim)
    sim.add_argument("--kube-version", default=None)
    sim.add_argument("--seed", type=int, default=0)
    add_question_flags(sim)
    _common(sim)

    ana = sub.add_parser("analyze", help="the cluster-wide report")
    _source_args(ana, server_only="with --server")
    ana.add_argument("--service", default=None, metavar="NS/NAME")
    ana.add_argument("--dropping", action="store_true", help="only rows where some calls drop")
    ana.add_argument("--code", default=None, help="only findings with this code")
    ana.add_argument("--endpoints", action="store_true")
    ana.add_argument("--limit", type=int, default=100)
    ana.add_argument("--offset", type=int, default=0)
    ana.add_argument("--max-findings", type=int, default=100)
    _whatif_args(ana)
    _common(ana)

    wif = sub.add_parser("whatif", help="a what-if's before | after, or its patches")
    wif.add_argument("file", nargs="?", metavar="FILE|-", help="kubectl dump (JSON or YAML)")
    wif.add_argument("--scenario", type=int, metavar="ID", help="a saved scenario (with --server)")
    wif.add_argument("--service", action="append", default=[], dest="services", metavar="NS/NAME")
    wif.add_argument(
        "--source",
        action="append",
        default=[],
        dest="sources",
        help="only these sources (default: every node, grouped)",
    )
    _whatif_args(wif)
    _common(wif, formats=("json", "table", "markdown", "patch", "kubectl", "kustomize", "yaml"))

    rul = sub.add_parser("render-rules", help="the rules kube-proxy programs on a node")
    _source_args(rul, server_only="with --server")
    rul.add_argument("--node", required=True)
    rul.add_argument("--mode", choices=("iptables", "nftables", "ipvs"), default=None)
    rul.add_argument("--service", default=None, metavar="NS/NAME")
    rul.add_argument("--set", action="append", default=[], dest="sets", metavar="FIELD=VALUE")
    _common(rul)

    tim = sub.add_parser("timeline", help="a rollout / drain / outage, second by second")
    _source_args(tim, server_only="with --server")
    from routing.cli import timeline

    timeline.add_arguments(tim)
    _common(tim)

    chk = sub.add_parser("check", help="what a change's manifests do to routing (CI)")
    chk.add_argument(
        "changed",
        nargs="+",
        metavar="CHANGED.yaml",
        help="manifests the change applies (multi-document YAML or JSON)",
    )
    chk.add_argument("--cluster", metavar="DUMP", help="the cluster as a dump file")
    chk.add_argument(
        "--cluster-name", metavar="NAME", help="with --server: a stored cluster (fetched as a List)"
    )
    chk.add_argument(
        "--fail-on",
        default="new-drops,client-ip-lost",
        metavar="RULES",
        help="exit 1 when a finding matches: new-drops, client-ip-lost, drops-stop, "
        "client-ip-regained, imbalance>N, cross-zone-cost>N (USD/month)",
    )
    chk.add_argument("-o", "--output", choices=("markdown", "junit", "json"), default="markdown")
    chk.add_argument("--server", default=os.environ.get("ROUTESCOPE_SERVER"), metavar="URL")
    chk.add_argument("--token", default=os.environ.get("ROUTESCOPE_TOKEN"), metavar="T")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``routescope``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check":  # the one subcommand whose exit status is its verdict
            return run_check(args)
        text = HANDLERS[args.command](args)
    except CliError as error:
        return _refuse(args.command, str(error), error.code)
    except _INPUT_ERRORS as error:
        return _refuse(args.command, _one_line(error), errors.BAD_INPUT)
    sys.stdout.write(text + "\n")
    return errors.OK


def _refuse(command: str, message: str, code: int) -> int:
    sys.stderr.write(f"routescope {command}: {message}\n")
    return code


def _one_line(error: Exception) -> str:
    from routing.whatif.flags import one_line

    if isinstance(error, OSError) and not isinstance(error, ValueError):
        return f"cannot read {error.filename or 'input'}: {error.strerror or error}"
    return one_line(error) or type(error).__name__


def _mode(args: argparse.Namespace, *, server_needs: str) -> Any:
    """The server (``--server``) or None (file mode); refuses a mixed or empty choice."""
    if args.server:
        from routing.cli.remote import Server

        if server_needs == "cluster" and not (args.cluster or getattr(args, "file", None)):
            raise CliError("with --server give --cluster NAME (or a FILE to send inline)")
        return Server(args.server, args.token)
    if getattr(args, "cluster", None):
        raise CliError("--cluster NAME needs --server URL (a stored cluster lives on a server)")
    if not args.file:
        raise CliError("give a dump FILE (or -), or --server URL")
    return None


def run_simulate(args: argparse.Namespace) -> str:
    """``routescope simulate``."""
    from routing.cli import local

    server = _mode(args, server_needs="cluster")
    question = {
        "to": args.to,
        "port": args.port,
        "seed": args.seed,
        "family": args.family,
        "client_ip": args.client_ip,
        "via_node": args.via_node,
    }
    if server is not None:
        from routing.whatif.value import parse_set_flags

        body: dict[str, Any] = {
            "service": args.service,
            "source": args.source,
            **question,
            "set": parse_set_flags(args.sets),
            "proxy_mode": args.proxy_mode,
            "ipvs_scheduler": args.ipvs_scheduler,
        }
        if args.kube_version:
            body["kube_version"] = args.kube_version
        if args.cluster:
            body["cluster"] = args.cluster
        else:
            body["cluster_dump"] = {
                "apiVersion": "v1",
                "kind": "List",
                "items": local.read_dump(args.file),
            }
        answer = server.post("simulate", {k: v for k, v in body.items() if v is not None})
    else:
        overrides = {"version": args.kube_version} if args.kube_version else {}
        snapshot = local.load_snapshot(args.file, **overrides)
        answer = local.simulate_body(
            snapshot,
            service=args.service,
            source=args.source,
            sets=args.sets,
            proxy_mode=args.proxy_mode,
            ipvs_scheduler=args.ipvs_scheduler,
            **question,
        )
    return output.render(
        answer,
        args.output,
        rows=output.simulate_rows,
        table=lambda a: "\n".join(output.summary_lines(a)),
    )


def run_analyze(args: argparse.Namespace) -> str:
    """``routescope analyze``."""
    server = _mode(args, server_needs="cluster")
    query = {
        "service": args.service,
        "dropping": args.dropping,
        "code": args.code,
        "endpoints": args.endpoints,
        "limit": args.limit,
        "offset": args.offset,
        "max_findings": args.max_findings,
    }
    if server is not None:
        if not args.cluster or args.sets or args.proxy_mode or args.ipvs_scheduler:
            raise CliError(
                "with --server give --cluster NAME (what-if flags: save a scenario "
                "and use `routescope whatif --scenario ID`)"
            )
        body = server.get(f"clusters/{_quote(args.cluster)}/analysis", query)
        if "services" not in body:  # 202: the cluster's first analysis is still running
            progress = (body.get("analysis") or {}).get("progress") or {}
            raise CliError(
                f"the first analysis of cluster {args.cluster} is still running "
                f"({progress.get('percent', 0)}%): try again shortly"
            )
    else:
        from routing.cli import local

        if args.limit < 1 or args.offset < 0 or args.max_findings < 0:
            raise CliError("--limit must be >= 1, --offset and --max-findings >= 0")
        from cluster.dump_json import collector_paused

        # The dump's objects, the snapshot and the analysis are millions of small
        # containers without cycles: no cyclic GC while they live (it would walk them
        # each time a reader re-enabled it).
        with collector_paused():
            # Analysed while the Pod child may still check the dump: its refusal wins.
            with local.checked_when_done(args.file, hold=True) as snapshot:
                body = local.analysis(
                    snapshot,
                    sets=args.sets,
                    proxy_mode=args.proxy_mode,
                    ipvs_scheduler=args.ipvs_scheduler,
                    query=query,
                )
            if local.HELD:
                # Held to the end (``console``): out of the collector's sight, or its
                # first pass after this block would walk every one of them.
                gc.freeze()
    return output.render(body, args.output, rows=output.analysis_rows)


def run_render_rules(args: argparse.Namespace) -> str:
    """``routescope render-rules``."""
    server = _mode(args, server_needs="cluster")
    if server is not None:
        if not args.cluster or args.sets:
            raise CliError("with --server give --cluster NAME (and no --set)")
        query = {"node": args.node, "mode": args.mode, "service": args.service}
        body = server.get(f"clusters/{_quote(args.cluster)}/rules", query)
    else:
        from routing.cli import local

        body = local.rules(
            local.load_snapshot(args.file),
            node=args.node,
            mode=args.mode,
            service=args.service,
            sets=args.sets,
        )
    return output.render(
        body, args.output, rows=output.rules_rows, table=lambda b: b["text"].rstrip("\n")
    )


def run_whatif(args: argparse.Namespace) -> str:
    """``routescope whatif``."""
    from routing.cli import whatif

    return whatif.run(args)


def run_check(args: argparse.Namespace) -> int:
    """``routescope check``: prints the report; exit 1 when the policy fails."""
    from cluster.dump_json import collector_paused
    from routing.cli import check

    check.parse_policy(args.fail_on)  # a bad rule is refused before any file is read
    if (args.cluster is None) == (args.cluster_name is None):
        raise CliError("give --cluster DUMP, or --server URL --cluster-name NAME")
    if args.cluster_name is not None and not args.server:
        raise CliError("--cluster-name NAME needs --server URL")
    change = check.read_change(args.changed)
    # The dump's objects and both snapshots are millions of small containers without
    # cycles: the cyclic GC would walk them again and again (each time a reader re-enables
    # it), for nothing. Off while they live (they are gone when ``_check_report``
    # returns, so the first collection after has nothing of theirs to walk).
    with collector_paused():
        report = _check_report(args, change)
    sys.stdout.write(check.render(report, args.output) + "\n")
    return errors.OK if report["passed"] else errors.CHECK_FAILED


def _check_report(args: argparse.Namespace, change: list[tuple[str, dict[str, Any]]]) -> Any:
    from routing.cli import check, local

    if args.cluster_name is not None:
        from routing.cli.remote import Server

        listed = Server(args.server, args.token).get(f"clusters/{_quote(args.cluster_name)}/export")
        objects = local.check_dump(listed.get("items") or [])
    else:
        objects = local.read_dump(args.cluster)
    return check.check(objects, change, args.fail_on)


def run_timeline(args: argparse.Namespace) -> str:
    """``routescope timeline``."""
    from routing.cli import timeline

    return timeline.run(args, _mode(args, server_needs="cluster"))


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


HANDLERS: dict[str, Callable[[argparse.Namespace], str]] = {
    "simulate": run_simulate,
    "analyze": run_analyze,
    "whatif": run_whatif,
    "render-rules": run_render_rules,
    "timeline": run_timeline,
}


def console() -> NoReturn:
    """The ``routescope`` command: :func:`main`, then the process ends without freeing, one
    object at a time, what a file-mode command built (``routing.cli.local.HOLD``)."""
    from routing.cli import local

    local.HOLD = True
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console()
