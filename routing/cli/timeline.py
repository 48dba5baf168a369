"""``routescope timeline``: what a rollout / drain / outage / scale-down does to a Service,
second by second (``manage.py timeline``'s question; ``POST /api/v1/timeline`` with
``--server``)."""

from __future__ import annotations

import argparse
from typing import Any

from routing.cli import output
from routing.cli.errors import CliError

#: (flag destination, API field, type for the API body) of the timing flags.
TIMING = (
    ("lb_preset", str),
    ("probe_interval", float),
    ("unhealthy_threshold", int),
    ("healthy_threshold", int),
    ("grace", float),
    ("prestop", float),
    ("on_sigterm", str),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``manage.py timeline``, by the same names."""
    parser.add_argument("--service", required=True, metavar="NS/NAME")
    add_event_arguments(parser)
    parser.add_argument("--port", default=None)
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="FIELD=VALUE")


def add_event_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--event`` and the timing flags (``manage.py lab verify --timeline`` takes them too)."""
    parser.add_argument(
        "--event",
        required=required,
        help="drain:NODE, node-down:NODE, zone-down:ZONE, rollout, scale:N or scale-in:NODE",
    )
    parser.add_argument("--lb-preset", default=None)
    parser.add_argument("--probe-interval", default=None, metavar="S")
    parser.add_argument("--unhealthy-threshold", default=None, metavar="N")
    parser.add_argument("--healthy-threshold", default=None, metavar="N")
    parser.add_argument("--grace", default=None, metavar="S")
    parser.add_argument("--prestop", default=None, metavar="S")
    parser.add_argument("--on-sigterm", default=None, choices=("stop", "serve"))


def fields_from(args: Any, service: str, port: str | None, sets: list[str]) -> dict[str, Any]:
    """The timeline fields (``routing.timeline_input.FIELDS``) of parsed flags (a Namespace
    or a management command's options dict)."""
    from routing.whatif.value import parse_set_flags

    get = args.get if isinstance(args, dict) else lambda name: getattr(args, name)
    fields: dict[str, Any] = {"service": service, "event": get("event"), "port": port}
    fields.update({name: get(name) for name, _ in TIMING})
    fields["set"] = parse_set_flags(sets)
    return fields


def run(args: argparse.Namespace, server: Any) -> str:
    """The timeline JSON (file or server), rendered as ``-o`` asks."""
    fields = fields_from(args, args.service, args.port, args.sets)
    if server is not None:
        body = {k: _typed(k, v) for k, v in fields.items() if v is not None}
        if args.cluster:
            body["cluster"] = args.cluster
        else:
            from routing.cli import local

            body["cluster_dump"] = {
                "apiVersion": "v1",
                "kind": "List",
                "items": local.read_dump(args.file),
            }
        answer = server.post("timeline", body)
    else:
        from routing.cli import local
        from routing.timeline_input import timeline_json

        answer = timeline_json(local.load_snapshot(args.file), fields)
    return output.render(
        answer,
        args.output,
        rows=output.timeline_rows,
        table=lambda a: "\n".join(output.timeline_lines(a)),
    )


def _typed(name: str, value: Any) -> Any:
    kind = dict(TIMING).get(name)
    if kind in (int, float) and isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            raise CliError(f"--{name.replace('_', '-')} {value!r} is not a number") from None
    return value
