"""``routescope whatif``: a what-if's before | after (``-o json|table|markdown``, the API's
preview body) or its Service patch (``-o patch|kubectl|kustomize|yaml``, the text of
``GET /api/v1/scenarios/{id}/patch``) — ``FILE --service NS/NAME --set FIELD=VALUE`` here,
or ``--scenario ID`` with ``--server``."""

from __future__ import annotations

import argparse
from typing import Any

from routing.cli import output
from routing.cli.errors import CliError

#: ``-o`` of ``whatif``: the preview as json/table/markdown, or the export formats (``yaml``
#: is the changed Service, as DESIGN.md lists it).
PREVIEW_FORMATS = ("json", "table", "markdown")
EXPORT_FORMATS = ("patch", "kubectl", "kustomize", "yaml")
FORMATS = (*PREVIEW_FORMATS, *EXPORT_FORMATS)


def run(args: argparse.Namespace) -> str:
    """The preview or the patch of the command line's what-if, as ``-o`` asks."""
    if args.output in EXPORT_FORMATS:
        return _server_export(args) if args.server else _file_export(args)
    body = _server_preview(args) if args.server else _file_preview(args)
    return output.render(body, args.output, rows=output.preview_rows)


def _server(args: argparse.Namespace) -> Any:
    from routing.cli.remote import Server

    if args.scenario is None or args.file or args.sets or args.proxy_mode or args.ipvs_scheduler:
        raise CliError("with --server give --scenario ID (a saved what-if), not a FILE or --set")
    return Server(args.server, args.token)


def _server_export(args: argparse.Namespace) -> str:
    body = _server(args).get(f"scenarios/{args.scenario}/patch", {"format": args.output})
    return body["text"].rstrip("\n")


def _file_export(args: argparse.Namespace) -> str:
    from routing.cli import local
    from routing.engine.kube import snapshot_from_objects
    from routing.whatif.export import export
    from routing.whatif.flags import whatif_from_flags

    _file_checks(args)
    objects = local.read_dump(args.file)
    snapshot = snapshot_from_objects(objects)
    whatif = whatif_from_flags(
        snapshot,
        args.sets,
        services=args.services,
        proxy_mode=args.proxy_mode,
        ipvs_scheduler=args.ipvs_scheduler,
    )
    if not whatif.services:
        raise CliError("no Service field to patch: give --set FIELD=VALUE")
    services = {
        f"{o['metadata'].get('namespace') or 'default'}/{o['metadata']['name']}": o
        for o in objects
        if o.get("kind") == "Service"
    }
    return export(whatif, services).text(args.output).rstrip("\n")


def _server_preview(args: argparse.Namespace) -> dict[str, Any]:
    server = _server(args)
    request: dict[str, Any] = {}
    if args.services:
        request["services"] = args.services
    if args.sources:
        request["sources"] = args.sources
    return server.post(f"scenarios/{args.scenario}/preview", request)


def _file_preview(args: argparse.Namespace) -> dict[str, Any]:
    from routing.cli import local
    from routing.whatif.flags import whatif_from_flags

    _file_checks(args)
    snapshot = local.load_snapshot(args.file)
    whatif = whatif_from_flags(
        snapshot,
        args.sets,
        services=args.services,
        proxy_mode=args.proxy_mode,
        ipvs_scheduler=args.ipvs_scheduler,
    )
    return local.whatif_preview(snapshot, whatif, services=args.services, sources=args.sources)


def _file_checks(args: argparse.Namespace) -> None:
    if args.scenario is not None:
        raise CliError("--scenario ID needs --server URL")
    if not args.file:
        raise CliError("give a dump FILE (or -), or --server URL with --scenario ID")
    if not args.services:
        raise CliError("give the what-if's Service: --service NS/NAME (repeatable)")
