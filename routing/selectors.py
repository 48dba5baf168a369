"""Reads that run the engine for the API and the pages: simulate, and a scenario's preview.

Nothing here writes: a simulation or a preview never changes cluster state (STYLE §5).
Bad input raises :class:`InputError`, one line naming the request field at fault, which
the API turns into a 400 and the pages into a form error.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from cluster.dump_limits import dump_limits
from cluster.kube_dump import DumpError, DumpTooLarge, read_value
from cluster.models import Cluster
from cluster.writer import check_objects
from routing.engine.candidates import DESTINATIONS
from routing.engine.errors import ScenarioError
from routing.engine.kube import SnapshotError, snapshot_from_objects
from routing.engine.scenario import SERVICE_FIELDS, Scenario, apply_scenario, diff_answers
from routing.engine.simulate import Question, QuestionError, simulate
from routing.engine.snapshot import Snapshot
from routing.snapshots import snapshot_for_cluster

#: Nodes a preview asks from, per Service (those hosting its endpoints first, then one per
#: zone): enough to show every distinct answer without one question per node.
PREVIEW_NODES = 12
#: Services a preview covers when the scenario touches the whole cluster (a proxy mode).
PREVIEW_SERVICES = 25


class InputError(ValueError):
    """Input the engine cannot answer; ``field`` names the request field at fault."""

    def __init__(self, message: str, *, field: str | None = None, too_large: bool = False) -> None:
        super().__init__(message)
        self.field = field
        #: Over a size bound (the API answers 413, not 400).
        self.too_large = too_large


_locks: dict[tuple[int, int, float], threading.Lock] = {}
_locks_guard = threading.Lock()


def _build_lock(cluster: Cluster) -> threading.Lock:
    with _locks_guard:
        key = cluster.state_key
        if key not in _locks:
            if len(_locks) > 64:
                _locks.clear()  # old revisions; a lock in use stays referenced by its holder
            _locks[key] = threading.Lock()
        return _locks[key]


def snapshot_for(*, cluster: Cluster | None = None, dump: Any = None,
                 kube_version: str | None = None) -> Snapshot:
    """The engine snapshot of a stored ``cluster`` (cached per revision) or of an inline
    ``dump`` (a kubectl List as parsed JSON). ``kube_version`` ("1.29") overrides the
    kube-proxy release (then a stored cluster's snapshot is built afresh)."""
    overrides = {"version": kube_version} if kube_version else {}
    try:
        if cluster is not None and not overrides:
            # One builder per cluster revision and process: the first request after an
            # import or sync builds the snapshot (seconds on a big cluster); concurrent
            # requests wait for it instead of each loading the whole cluster again.
            with _build_lock(cluster):
                return snapshot_for_cluster(cluster=cluster)
        if cluster is not None:
            from cluster.selectors import cluster_objects

            return snapshot_from_objects(cluster_objects(cluster=cluster), **overrides)
        limits = dump_limits()
        # The request body is decoded already: read it as a dump file is read, bounds and all.
        objects = read_value(dump, limits=limits)
        if not objects:
            raise InputError("the dump holds no Kubernetes objects", field="cluster_dump")
        check_objects(objects, limits)  # the importer's one-line refusals, not an engine traceback
        return snapshot_from_objects(objects, **overrides)
    except SnapshotError as error:
        raise InputError(_one_line(error), field="kube_version" if "version" in str(error)
                         and kube_version else "cluster_dump") from None
    except DumpError as error:
        raise InputError(_one_line(error), field="cluster_dump",
                         too_large=isinstance(error, DumpTooLarge)) from None


def simulate_answer(*, snapshot: Snapshot, service: str, source: str, to: str | None = None,
                    port: str | int | None = None, overrides: Mapping[str, str] | None = None,
                    proxy_mode: str | None = None, ipvs_scheduler: str | None = None,
                    seed: int = 0, family: str | None = None, client_ip: str | None = None) -> dict[str, Any]:
    """The DESIGN.md simulate answer (``Answer.to_json()``), the same as the CLI prints."""
    _check_question(snapshot, service=service, source=source, to=to, port=port,
                    overrides=overrides or {})
    question = Question(service=service, source=source, to=to, port=port,
                        overrides=dict(overrides or {}), proxy_mode=proxy_mode,
                        ipvs_scheduler=ipvs_scheduler, seed=seed, family=family, client_ip=client_ip)
    try:
        return simulate(snapshot, question).to_json()
    except QuestionError as error:
        raise InputError(_one_line(error), field=_question_field(str(error))) from None
    except ScenarioError as error:
        raise InputError(_one_line(error), field=_scenario_field(str(error))) from None


def _check_question(snapshot: Snapshot, *, service: str, source: str, to: str | None,
                    port: str | int | None, overrides: Mapping[str, str]) -> None:
    """Name the field at fault before the engine is asked (its errors are plain text)."""
    namespace, _, name = service.partition("/")
    if not namespace or not name:
        raise InputError(f"{service!r} is not a Service as namespace/name", field="service")
    found = snapshot.services.get(service)
    if found is None:
        raise InputError(f"no Service {service} in this cluster", field="service")
    if found.ports and found.port(port) is None:
        names = ", ".join(p.name or str(p.port) for p in found.ports)
        raise InputError(f"Service {service} has no port {port!r} (ports: {names})"
                         if port not in (None, "") else
                         f"Service {service} has several ports; pick one ({names})", field="port")
    kind, _, node = source.partition(":")
    if kind not in ("pod", "external", "lb") or (kind == "lb") != (node == ""):
        raise InputError(f"{source!r} is not pod:NODE, external:NODE or lb", field="source")
    # As the engine: a dump without Node objects cannot say which names exist.
    if node and snapshot.nodes and node not in snapshot.nodes and not any(
            ep.node == node for ports in snapshot.endpoint_index.values()
            for eps in ports.values() for ep in eps):
        raise InputError(f"no node {node!r} in this cluster", field="source")
    if kind == "lb" and found.type != "LoadBalancer":
        raise InputError(f"Service {service} is type {found.type}: no cloud load balancer sends "
                         "it traffic (source lb needs a LoadBalancer)", field="source")
    if to is not None and to not in DESTINATIONS:
        raise InputError(f"{to!r} is not one of {', '.join(DESTINATIONS)}", field="to")
    for key, value in overrides.items():
        if key not in SERVICE_FIELDS:
            raise InputError(f"cannot set {key!r} (allowed: {', '.join(SERVICE_FIELDS)})",
                             field=f"set.{key}")
        allowed = [v for v in SERVICE_FIELDS[key][1] if v]
        if value not in SERVICE_FIELDS[key][1]:
            raise InputError(f"{key}={value!r} is not one of {', '.join(allowed)}",
                             field=f"set.{key}")


def _question_field(message: str) -> str:
    lowered = message.lower()
    if lowered.startswith("client_ip"):
        return "client_ip"
    if lowered.startswith("family") or " clusterip (clusterips:" in lowered:
        return "family"
    if "port" in lowered and "nodeport" not in lowered:
        return "port"
    if any(word in lowered for word in ("destination", "nodeport", "load-balancer", "externalip",
                                        "--to", "loadbalancer")):
        return "to"
    if "source" in lowered or "node" in lowered:
        return "source"
    return "service"


def _scenario_field(message: str) -> str:
    lowered = message.lower()
    if "proxy mode" in lowered:
        return "proxy_mode"
    if "scheduler" in lowered:
        return "ipvs_scheduler"
    named = message.split("=", 1)[0].strip()  # "trafficDistribution=PreferSameNode needs ..."
    return f"set.{named}" if named in SERVICE_FIELDS else "set"


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


# --- scenarios -------------------------------------------------------------------------

#: ``Scenario.changes`` keys -> how they map onto the engine's Scenario.
_SET_KEYS = ("nodes_down", "nodes_cordoned", "nodes_drained", "endpoints_not_ready",
             "endpoints_terminating")
_MAP_KEYS = ("node_proxy_modes", "node_ipvs_schedulers", "scale")
CHANGE_KEYS = ("services", "proxy_mode", "ipvs_scheduler", *_MAP_KEYS, *_SET_KEYS)


def engine_scenario(changes: Mapping[str, Any]) -> Scenario:
    """The engine ``Scenario`` for a stored scenario's ``changes`` JSON (shape checked by
    ``routing.api.serializers.ScenarioChangesSerializer``)."""
    unknown = sorted(set(changes) - set(CHANGE_KEYS))
    if unknown:
        raise InputError(f"unknown change {unknown[0]!r} (known: {', '.join(CHANGE_KEYS)})",
                         field=f"changes.{unknown[0]}")
    return Scenario(
        service_overrides={k: dict(v) for k, v in (changes.get("services") or {}).items()},
        proxy_mode=changes.get("proxy_mode") or None,
        ipvs_scheduler=changes.get("ipvs_scheduler") or None,
        **{key: dict(changes.get(key) or {}) for key in _MAP_KEYS},
        **{key: frozenset(changes.get(key) or ()) for key in _SET_KEYS},
    )


def scenario_snapshot(*, snapshot: Snapshot, changes: Mapping[str, Any]) -> Snapshot:
    """``snapshot`` after the scenario; a bad change is an ``InputError`` on ``changes.*``."""
    try:
        return apply_scenario(snapshot, engine_scenario(changes))
    except ScenarioError as error:
        raise InputError(_one_line(error), field=_changes_field(str(error), changes)) from None


def _changes_field(message: str, changes: Mapping[str, Any]) -> str:
    for key in CHANGE_KEYS:
        if message.startswith(f"{key}:"):
            return f"changes.{key}"
    if "proxy mode" in message:
        return "changes.proxy_mode" if changes.get("proxy_mode") else "changes.node_proxy_modes"
    if "scheduler" in message:
        return "changes.ipvs_scheduler"
    if "scale" in message:
        return "changes.scale"
    return "changes.services"


def preview_services(*, snapshot: Snapshot, changes: Mapping[str, Any]) -> list[str]:
    """The Services a scenario can change, most specific first (capped for cluster-wide
    changes such as a proxy mode, which touch every Service)."""
    keys = list((changes.get("services") or {}).keys())
    nodes = set(changes.get("nodes_down") or ()) | set(changes.get("nodes_drained") or ())
    pods = set(changes.get("endpoints_not_ready") or ()) | set(
        changes.get("endpoints_terminating") or ())
    owners = set((changes.get("scale") or {}).keys())
    for key, ports in snapshot.endpoint_index.items():
        if key in keys:
            continue
        for ep in (ep for eps in ports.values() for ep in eps):
            touched = ep.node in nodes or ep.pod in pods or ep.ip in pods
            if touched or (owners and _owner(snapshot, ep) in owners):
                keys.append(key)
                break
    if changes.get("proxy_mode") or changes.get("ipvs_scheduler") or changes.get(
            "node_proxy_modes") or changes.get("node_ipvs_schedulers"):
        keys.extend(k for k in sorted(snapshot.services) if k not in keys
                    and snapshot.services[k].proxied)
    return keys[:PREVIEW_SERVICES]


def _owner(snapshot: Snapshot, ep: Any) -> str | None:
    """``namespace/name`` of the workload (e.g. Deployment) owning the endpoint's pod."""
    pod = snapshot.pods.get(ep.pod or "")
    if pod is None or not pod.owner:
        return None
    return f"{pod.namespace}/{pod.owner.split('/', 1)[-1]}"


def preview_sources(*, snapshot: Snapshot, after: Snapshot, service: str) -> list[str]:
    """Sources whose answers can differ: pods on nodes hosting an endpoint (before or
    after), one pod per other zone, then external clients and the load balancer."""
    hosting: list[str] = []
    for snap in (snapshot, after):
        for eps in snap.endpoint_index.get(service, {}).values():
            hosting.extend(ep.node for ep in eps if ep.node in snapshot.nodes)
    nodes = list(dict.fromkeys(sorted(hosting)))[:PREVIEW_NODES]
    zones_seen = {snapshot.zone_of(n) for n in nodes}
    for name in sorted(snapshot.nodes):
        if len(nodes) >= PREVIEW_NODES:
            break
        zone = snapshot.zone_of(name)
        if zone not in zones_seen and name not in nodes:
            zones_seen.add(zone)
            nodes.append(name)
    svc = snapshot.services[service]
    sources = [f"pod:{n}" for n in nodes]
    if any(p.node_port for p in svc.ports):
        sources.extend(f"external:{n}" for n in nodes)
    if svc.type == "LoadBalancer":
        sources.append("lb")
    return sources


def scenario_preview(*, cluster: Cluster, changes: Mapping[str, Any],
                     services: Iterable[str] | None = None,
                     sources: Iterable[str] | None = None) -> dict[str, Any]:
    """Before/after answers and their diff for the Services and sources a scenario touches.

    ``services`` / ``sources`` narrow the preview (default: :func:`preview_services` and
    :func:`preview_sources`). Every Service port is asked; a question that has no answer
    for a source (e.g. ``lb`` for a ClusterIP) is skipped.
    """
    before = snapshot_for(cluster=cluster)
    after = scenario_snapshot(snapshot=before, changes=changes)
    keys = list(services) if services else preview_services(snapshot=before, changes=changes)
    for key in keys:
        if key not in before.services:
            raise InputError(f"no Service {key} in cluster {cluster.name}", field="services")
    rows = [_service_preview(before, after, key, list(sources) if sources else None)
            for key in keys]
    questions = [q for row in rows for q in row["questions"]]
    worse = [q for q in questions if q["diff"]["newly_dropped"] > 0]
    return {
        "cluster": cluster.name, "revision": cluster.revision, "changes": dict(changes),
        "services": rows,
        "summary": {
            "services": len(rows), "questions": len(questions),
            "questions_newly_dropping": len(worse),
            "worst_newly_dropped": max((q["diff"]["newly_dropped"] for q in questions),
                                       default=0.0),
            "questions_stop_dropping": sum(1 for q in questions
                                           if q["diff"]["stops_dropping"] > 0),
            "changed": sum(1 for q in questions if _changed(q["diff"])),
        },
    }


def _service_preview(before: Snapshot, after: Snapshot, key: str,
                     sources: list[str] | None) -> dict[str, Any]:
    service = before.services[key]
    questions = []
    for source in sources or preview_sources(snapshot=before, after=after, service=key):
        for port in service.ports:
            question = Question(service=key, source=source, port=port.name or port.port)
            try:
                old, new = simulate(before, question), simulate(after, question)
            except QuestionError:
                continue  # e.g. external:NODE for a port without a nodePort
            diff = diff_answers(old, new).to_json()
            questions.append({"source": source, "port": port.name or str(port.port),
                              "to": old.to, "before": diff_before(old), "after": diff_before(new),
                              "diff": diff})
    return {"service": key, "type": service.type, "questions": questions}


def diff_before(answer: Any) -> dict[str, Any]:
    """The part of an answer a preview shows beside the diff."""
    data = answer.to_json()
    return {key: data[key] for key in ("action", "dropped", "drop_reason", "client_ip_preserved",
                                       "endpoints", "explain", "proxy_mode")}


def _changed(diff: Mapping[str, Any]) -> bool:
    return bool(diff["moved"] or diff["newly_dropped"] or diff["stops_dropping"]
                or diff["action"]["before"] != diff["action"]["after"]
                or diff["client_ip_preserved"]["before"] != diff["client_ip_preserved"]["after"])


# Node agents' drift reports (appended section; the model has no import-time dependencies).
from routing.models import RulesDriftReport  # noqa: E402


def drift_latest(*, cluster: Cluster, node: str | None = None,
                 in_sync: bool | None = None) -> list[RulesDriftReport]:
    """The latest ``RulesDriftReport`` of each node of ``cluster`` (one query), by node
    name; ``node`` keeps one node's, ``in_sync`` only reports that are (or are not) in sync."""
    from django.db.models import OuterRef, Subquery

    newest = (RulesDriftReport.objects.filter(cluster=cluster, node=OuterRef("node"))
              .order_by("-checked_at", "-id").values("pk")[:1])
    reports = RulesDriftReport.objects.filter(cluster=cluster, pk=Subquery(newest))
    if node is not None:
        reports = reports.filter(node=node)
    if in_sync is not None:
        reports = reports.filter(in_sync=in_sync)
    return list(reports.order_by("node"))
