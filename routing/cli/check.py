"""``routescope check``: what a change's manifests do to routing, before they merge.

The manifests (rendered Helm / Kustomize output: Services, Deployments / StatefulSets /
DaemonSets with their pod templates, the kube-system/kube-proxy ConfigMap) are laid over
the cluster's objects: a Service or the ConfigMap replaces the cluster's; the workloads'
pods are relabelled, created or removed (``routing.cli.workloads``: pod template labels,
new Deployments / StatefulSets placed as the scheduler spreads them, DaemonSets on every
fitting node, readiness) and every Service whose selected pods change gets the endpoints
the EndpointSlice controller would publish; a running Deployment's or StatefulSet's
``replicas`` scales its pods (``routing.engine.scaling``). Every Service touched is then
asked from every node before and after (``routing.whatif.preview``'s grouping), and each
Service × source reports new drops, drops that stop, client IP lost or regained,
imbalance and cross-zone cost. ``--fail-on`` turns findings into exit 1.

Not modelled (said in the notes where it applies): node capacity, affinity and topology
spread constraints, the rollout's intermediate states (``routescope timeline`` has them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from routing.cli.errors import CliError
from routing.engine.snapshot import Snapshot
from routing.whatif.preview import EACH_NODE_MAX

#: Kinds a change may hold: (apiVersion, kind).
KINDS = {
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("v1", "ConfigMap"),
}
#: ``--fail-on`` rules: the bare ones, and those taking a number (``imbalance>2``).
FLAGS = ("new-drops", "client-ip-lost", "drops-stop", "client-ip-regained")
THRESHOLDS = ("imbalance", "cross-zone-cost")
DEFAULT_FAIL_ON = "new-drops,client-ip-lost"


@dataclass
class Finding:
    """One Service × source's change, with the rules it breaks."""

    service: str
    port: str
    source: str
    nodes: int
    before: dict[str, Any]
    after: dict[str, Any]
    kinds: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "service": self.service,
            "port": self.port,
            "source": self.source,
            "nodes": self.nodes,
            "before": self.before,
            "after": self.after,
            "changes": self.kinds,
            "failed": self.failed,
        }


def parse_policy(text: str) -> tuple[set[str], dict[str, float]]:
    """``new-drops,imbalance>2`` -> ({"new-drops"}, {"imbalance": 2.0}); CliError if bad."""
    flags: set[str] = set()
    limits: dict[str, float] = {}
    for rule in (r.strip() for r in text.split(",") if r.strip()):
        name, sep, number = rule.partition(">")
        if not sep and name in FLAGS:
            flags.add(name)
            continue
        try:
            value = float(number)
        except ValueError:
            value = None
        if not sep or name not in THRESHOLDS or value is None:
            known = ", ".join([*FLAGS, *(f"{t}>N" for t in THRESHOLDS)])
            raise CliError(f"--fail-on: {rule!r} is not a rule ({known})")
        limits[name] = value
    return flags, limits


def read_change(paths: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """(file, object) of every manifest; CliError for an unknown kind."""
    from cluster.kube_dump import read_objects
    from routing.cli.local import env_limits

    out = []
    for path in paths:
        try:
            objects = read_objects(path, limits=env_limits())
        except ValueError as error:  # DumpError: the file's own one-line reason
            raise CliError(f"{path}: {' '.join(str(error).split())}") from None
        for obj in objects:
            kind = (obj.get("apiVersion"), obj.get("kind"))
            if kind not in KINDS:
                raise CliError(
                    f"{path}: unknown kind {obj.get('apiVersion')}/{obj.get('kind')} "
                    f"(check reads Services, Deployments, StatefulSets, DaemonSets and "
                    f"the kube-proxy ConfigMap)"
                )
            out.append((path, obj))
    return out


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


def overlay(
    objects: list[dict[str, Any]], change: list[tuple[str, dict[str, Any]]], pod_count: Any
) -> tuple[
    list[dict[str, Any]],
    dict[str, int],
    set[str],
    bool,
    list[str],
    list[tuple[str, dict[str, Any]]],
]:
    """The cluster's objects with the change's Services and ConfigMap laid over them:
    (objects, scale by owner, Services replaced, kube-proxy changed, notes, workloads for
    ``routing.cli.workloads.lay``). ``pod_count(owner)``: how many pods the cluster runs of
    that Deployment / StatefulSet / ReplicaSet ("ns/name")."""
    services = {_key(o): i for i, o in enumerate(objects) if o.get("kind") == "Service"}
    out = list(objects)
    scale: dict[str, int] = {}
    replaced: set[str] = set()
    proxy = False
    notes: list[str] = []
    workloads: list[tuple[str, dict[str, Any]]] = []
    owners: dict[str, str] | None = None  # read only for a Deployment of the change
    for path, obj in change:
        kind, key = obj["kind"], _key(obj)
        if kind == "Service":
            if key not in services:
                raise CliError(
                    f"{path}: unknown Service {key} (not in the cluster; check "
                    "compares changes to existing Services)"
                )
            out[services[key]] = _with_status(obj, out[services[key]])
            replaced.add(key)
        elif kind == "ConfigMap":
            if key != "kube-system/kube-proxy":
                raise CliError(
                    f"{path}: unknown kind ConfigMap {key} (only kube-system/kube-proxy)"
                )
            out = [o for o in out if not (o.get("kind") == "ConfigMap" and _key(o) == key)]
            out.append(obj)
            proxy = True
        elif kind == "DaemonSet":
            workloads.append((path, obj))
        else:
            workloads.append((path, obj))
            if kind == "Deployment" and owners is None:
                owners = _replica_sets(objects)
            owner = (
                key
                if pod_count(key)
                else owners.get(key)
                if kind == "Deployment" and owners is not None
                else None
            )
            owner = owner if owner is not None and pod_count(owner) else None
            if owner is None:
                continue  # a new workload: its pods are placed by routing.cli.workloads
            # No replicas (an autoscaled workload's chart omits them): kubectl apply keeps
            # the running count.
            replicas = (obj.get("spec") or {}).get("replicas", pod_count(owner))
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise CliError(f"{path}: {kind} {key}: bad replicas {replicas!r}")
            if replicas != pod_count(owner):
                scale[owner] = replicas
                notes.append(f"{kind} {key}: replicas {pod_count(owner)} → {replicas}")
    return out, scale, replaced, proxy, notes, workloads


def _with_status(new: dict[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest has no status or cluster IP: keep the cluster's (kube-proxy's input)."""
    merged = dict(new)
    spec = dict(new.get("spec") or {})
    for key in ("clusterIP", "clusterIPs", "ipFamilies"):
        if key not in spec and key in (old.get("spec") or {}):
            spec[key] = old["spec"][key]
    old_ports = {
        (p.get("name"), p.get("port")): p for p in (old.get("spec") or {}).get("ports") or ()
    }
    ports = []
    for port in spec.get("ports") or ():
        kept = old_ports.get((port.get("name"), port.get("port")), {})
        ports.append(
            {"nodePort": kept["nodePort"], **port}
            if "nodePort" in kept and "nodePort" not in port
            else dict(port)
        )
    spec["ports"] = ports
    merged["spec"] = spec
    merged.setdefault("status", old.get("status") or {})
    return merged


def _replica_sets(objects: list[dict[str, Any]]) -> dict[str, str]:
    """Deployment "ns/name" -> its newest ReplicaSet "ns/name" (by the pods' owners)."""
    out: dict[str, str] = {}
    for obj in objects:
        if obj.get("kind") != "Pod":
            continue
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("kind") == "ReplicaSet" and "-" in ref.get("name", ""):
                namespace = obj["metadata"].get("namespace") or "default"
                out[f"{namespace}/{ref['name'].rsplit('-', 1)[0]}"] = f"{namespace}/{ref['name']}"
    return out


def check(
    objects: list[dict[str, Any]], change: list[tuple[str, dict[str, Any]]], fail_on: str
) -> dict[str, Any]:
    """The report: every finding per Service × source, the policy's verdict, notes."""
    from routing.cli import workloads as wl
    from routing.engine.scaling import owner_pods
    from routing.engine.scenario import apply_scenario
    from routing.whatif.value import WhatIf

    flags, limits = parse_policy(fail_on)
    before = before_snapshot(objects, change)
    laid, scale, replaced, proxy, notes, workloads = overlay(
        objects, change, lambda owner: len(owner_pods(owner, before.pods))
    )
    placed = wl.lay(laid, workloads, before)
    notes = placed.notes + notes
    after = (
        after_snapshot(before, objects, placed.objects, proxy=proxy)
        if (replaced or proxy or workloads)
        else before
    )
    rederived: set[str] = set()
    if replaced or workloads:
        pods = [o for o in objects if o.get("kind") == "Pod"]
        after, rederived = wl.rederive(
            before,
            after,
            pods,
            # No workload: the change moved no pod (``laid`` holds the cluster's own).
            [o for o in placed.objects if o.get("kind") == "Pod"] if workloads else pods,
            replaced,
        )
        notes += [
            f"Service {key}: endpoints derived from the pods it selects after the change"
            for key in sorted(rederived)
        ]
    if scale:
        after = apply_scenario(after, WhatIf(scale=scale).scenario())
    touched = set(replaced) | rederived | _owned_services(before, scale)
    touched |= _owned_services(after, scale)
    if proxy:
        touched |= set(before.services)
    findings: list[Finding] = []
    if touched and len(before.nodes) > EACH_NODE_MAX:
        from routing.engine.analysis.nodes import node_index

        nodes = node_index(before)  # the node classes every Service's groups are cut from
    else:
        nodes = None
    for key in sorted(touched):
        findings += _service_findings(before, after, key, notes, nodes)
    for finding in findings:
        finding.failed = _broken(finding, flags, limits)
    failed = [f for f in findings if f.failed]
    return {
        "fail_on": fail_on,
        "passed": not failed,
        "services": sorted(touched),
        "summary": {
            kind: sum(1 for f in findings if kind in f.kinds)
            for kind in (
                "new-drops",
                "drops-stop",
                "client-ip-lost",
                "client-ip-regained",
                "imbalance",
                "cross-zone-cost",
            )
        }
        | {"failed": len(failed)},
        "findings": [f.to_json() for f in findings],
        "notes": notes,
    }


def before_snapshot(
    objects: Sequence[Mapping[str, Any]],
    change: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    partial: bool = True,
) -> Snapshot:
    """The cluster's snapshot as far as ``change`` needs it. A change of Services only
    touches those Services (no pod moves, no kube-proxy setting): their answers need the
    node table (every Node, the kube-proxy ConfigMaps and the kube-system Pods: zones,
    readiness, every node's kube-proxy configuration and health) and their own
    EndpointSlices, nothing another Service holds — ARCHITECTURE.md, "One-service path",
    the rule ``routing.snapshots.service_snapshot`` follows for stored clusters. So only
    those are read (``services_snapshot``); any other change, or a cluster without
    EndpointSlices, gets the whole build. ``routing/tests/test_check_incremental.py``
    holds the reports equal either way."""
    from routing.engine.kube import snapshot_from_objects

    keys = {_key(obj) for _, obj in change if obj.get("kind") == "Service"}
    if partial and keys and all(obj.get("kind") == "Service" for _, obj in change):
        found = services_snapshot(objects, keys)
        if found is not None:
            return found
    return snapshot_from_objects(objects)


def services_snapshot(objects: Sequence[Mapping[str, Any]], keys: set[str]) -> Snapshot | None:
    """The node table with the Services ``keys`` ("namespace/name") and their
    EndpointSlices laid over it, in the whole build's order; None for a cluster without
    EndpointSlices (its endpoints come from v1 Endpoints or every Pod)."""
    from routing.engine.incremental import DERIVED_NOTES
    from routing.engine.kube import (
        shared_by_every_service,
        slice_service_key,
        snapshot_from_objects,
    )

    table: list[Mapping[str, Any]] = []
    mine: list[Mapping[str, Any]] = []
    slices = False
    for obj in objects:
        kind = str(obj.get("kind", ""))
        if kind == "EndpointSlice":
            slices = True
            if slice_service_key(obj) in keys:
                mine.append(obj)
        elif kind == "Service":
            if _key(obj) in keys:
                mine.append(obj)
        elif shared_by_every_service(kind, str((obj.get("metadata") or {}).get("namespace"))):
            table.append(obj)
    if not slices:
        return None
    base = snapshot_from_objects(table)
    part = snapshot_from_objects(mine)
    return base.with_services_of(
        part,
        # Built without slices, the table notes endpoints derived from its Pods: not so.
        notes=tuple(n for n in base.notes if not n.startswith(DERIVED_NOTES)),
    )


def after_snapshot(
    before: Snapshot,
    objects: Sequence[Mapping[str, Any]],
    laid: Sequence[Mapping[str, Any]],
    *,
    proxy: bool = False,
    incremental: bool = True,
) -> Snapshot:
    """The snapshot of ``laid`` (the cluster's ``objects``, from which ``before`` was built,
    with a change laid over them: replaced Services and relabelled Pods in place, removed
    Pods gone, new Pods last). ``before`` advanced by the objects that differ
    (``routing.engine.incremental.snapshot_with_changes``: only the changed Services'
    endpoints are read again, pods are overlaid), which equals ``snapshot_from_objects(laid)``
    (``routing/tests/test_check_incremental.py``); built from every object when the change
    moves what that path does not cover: the kube-proxy ConfigMap (``proxy``), a kube-proxy
    or kube-system Pod, a dual-stack Service, a pod that leaves and comes back under its name.
    """
    from routing.engine.incremental import NeedsFullRebuild
    from routing.engine.kube import snapshot_from_objects

    if incremental and not proxy:
        try:
            return _advanced(before, objects, laid)
        except NeedsFullRebuild:
            pass
    return snapshot_from_objects(laid)


def _ident(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind", ""))
    namespace = "" if kind == "Node" else str(meta.get("namespace") or "default")
    return kind, namespace, str(meta.get("name", ""))


def _advanced(
    before: Snapshot, objects: Sequence[Mapping[str, Any]], laid: Sequence[Mapping[str, Any]]
) -> Snapshot:
    from routing.engine.incremental import NeedsFullRebuild, snapshot_with_changes
    from routing.engine.kube import slice_service_key

    # ``laid`` holds the cluster's own dicts wherever the change left an object alone.
    old_ids = {id(o) for o in objects}
    new_ids = {id(o) for o in laid}
    upserts = [o for o in laid if id(o) not in old_ids]
    upserted = {_ident(o) for o in upserts}
    gone = [o for o in objects if id(o) not in new_ids]
    deletes = [ident for ident in map(_ident, gone) if ident not in upserted]
    if any(kind != "Pod" for kind, _, _ in deletes):
        raise NeedsFullRebuild("the change removes an object that is no Pod")
    if any(o.get("kind") not in ("Service", "Pod") for o in upserts):
        raise NeedsFullRebuild("the change replaces an object that is no Service or Pod")

    slices: dict[str, list[Mapping[str, Any]]] | None = None

    def service_slices(namespace: str, name: str) -> list[Mapping[str, Any]]:
        nonlocal slices
        if slices is None:  # the slices of every Service (the change replaces none)
            slices = {}
            for obj in objects:
                if obj.get("kind") == "EndpointSlice":
                    key = slice_service_key(obj)
                    if key:
                        slices.setdefault(key, []).append(obj)
        return slices.get(f"{namespace}/{name}", [])

    after = snapshot_with_changes(
        before, upserts=upserts, deletes=deletes, service_slices=service_slices
    )
    if (upserts or deletes) and any(kind == "Pod" for kind, _, _ in upserted | set(deletes)):
        # The overlay keeps a changed pod where it was and puts new ones last, as ``laid``
        # does, unless a pod left and another took its name (then it sits last in ``laid``).
        order = dict.fromkeys(
            f"{namespace}/{name}" for kind, namespace, name in map(_ident, laid) if kind == "Pod"
        )
        if list(order) != list(after.pods):
            raise NeedsFullRebuild("a pod left and came back under its name")
    return after


def _owned_services(snapshot: Any, scale: Mapping[str, int]) -> set[str]:
    from routing.engine.scaling import owner_pods

    if not scale:
        return set()

    pods = {p.key for owner in scale for p in owner_pods(owner, snapshot.pods)}
    return {
        key
        for key, ports in snapshot.endpoint_index.items()
        if any(ep.pod in pods for eps in ports.values() for ep in eps)
    }


def _service_findings(
    before: Any, after: Any, key: str, notes: list[str], nodes: Any = None
) -> list[Finding]:
    from routing.engine.errors import QuestionError
    from routing.whatif.preview import compare, service_entries, whatif_groups

    service = before.services[key]
    out = []
    groups: dict[str, Any] = {}
    for port in [p.name or str(p.port) for p in service.ports]:
        try:
            for kind in ("pod", "external"):
                if kind not in groups:
                    groups[kind] = whatif_groups(before, after, key, nodes=nodes, kind=kind)
            diffs = compare(
                service_entries(
                    before, key, port=port, groups=groups["pod"], external_groups=groups["external"]
                ),
                service_entries(
                    after, key, port=port, groups=groups["pod"], external_groups=groups["external"]
                ),
            )
        except QuestionError as error:
            notes.append(f"{key} port {port}: {error.message}")
            continue
        for diff in diffs:
            after_paths = {p.group.label: p for p in diff.after.paths}
            for path in diff.before.paths:
                new = after_paths.get(path.group.label)
                if new is not None:
                    out.append(_finding(key, port, path, new))
    return [f for f in out if f.kinds]


def _figures(answer: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "dropped": answer["dropped"],
        "drop_reason": answer["drop_reason"],
        "client_ip_preserved": answer["client_ip_preserved"],
        "imbalance": answer.get("imbalance"),
        "cross_zone_usd_per_month": (answer.get("cost") or {}).get("usd_per_month", 0.0),
    }


def _finding(key: str, port: str, path: Any, new: Any) -> Finding:
    b, a = _figures(path.answer), _figures(new.answer)
    finding = Finding(key, port, path.source, path.group.weight, b, a)
    eps = 1e-9
    if a["dropped"] > b["dropped"] + eps:
        finding.kinds.append("new-drops")
    if a["dropped"] < b["dropped"] - eps:
        finding.kinds.append("drops-stop")
    forwarded = a["dropped"] < 1.0 and b["dropped"] < 1.0
    if forwarded and b["client_ip_preserved"] and not a["client_ip_preserved"]:
        finding.kinds.append("client-ip-lost")
    if forwarded and a["client_ip_preserved"] and not b["client_ip_preserved"]:
        finding.kinds.append("client-ip-regained")
    if (a["imbalance"] or 0) > (b["imbalance"] or 0) + 1e-6:
        finding.kinds.append("imbalance")
    if a["cross_zone_usd_per_month"] > b["cross_zone_usd_per_month"] + 1e-6:
        finding.kinds.append("cross-zone-cost")
    return finding


def _broken(finding: Finding, flags: set[str], limits: Mapping[str, float]) -> list[str]:
    broken = [kind for kind in finding.kinds if kind in flags]
    if (
        "imbalance" in limits
        and "imbalance" in finding.kinds
        and (finding.after["imbalance"] or 0) > limits["imbalance"]
    ):
        broken.append(f"imbalance>{limits['imbalance']:g}")
    cost = finding.after["cross_zone_usd_per_month"] - finding.before["cross_zone_usd_per_month"]
    if "cross-zone-cost" in limits and cost > limits["cross-zone-cost"]:
        broken.append(f"cross-zone-cost>{limits['cross-zone-cost']:g}")
    return broken


# --- output -------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{value + 0.0:.1%}"


def _line(f: Mapping[str, Any]) -> str:
    b, a = f["before"], f["after"]
    parts = []
    if "new-drops" in f["changes"] or "drops-stop" in f["changes"]:
        reason = f" ({a['drop_reason']})" if a["drop_reason"] else ""
        parts.append(f"dropped {_pct(b['dropped'])} → {_pct(a['dropped'])}{reason}")
    if "client-ip-lost" in f["changes"]:
        parts.append("client IP lost")
    if "client-ip-regained" in f["changes"]:
        parts.append("client IP regained")
    if "imbalance" in f["changes"]:
        parts.append(f"imbalance {b['imbalance']} → {a['imbalance']}")
    if "cross-zone-cost" in f["changes"]:
        parts.append(
            f"cross-zone {b['cross_zone_usd_per_month']:g} → "
            f"{a['cross_zone_usd_per_month']:g} USD/month"
        )
    return "; ".join(parts)


def markdown(report: Mapping[str, Any]) -> str:
    """A pull-request comment."""
    verdict = "✅ passes" if report["passed"] else f"❌ fails `--fail-on {report['fail_on']}`"
    lines = [
        f"### Routescope check: {verdict}",
        "",
        f"{len(report['services'])} Services checked; "
        + (", ".join(f"{n} {k}" for k, n in report["summary"].items() if n) or "no change")
        + ".",
        "",
    ]
    if report["findings"]:
        lines += [
            "| Service | port | source | nodes | change | fails |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {f['service']} | {f['port']} | {f['source']} | {f['nodes']} | {_line(f)} | "
            f"{', '.join(f['failed']) or '-'} |"
            for f in report["findings"]
        ]
    else:
        lines.append("No routing change.")
    lines += [""] + [f"- {note}" for note in report["notes"]] if report["notes"] else []
    return "\n".join(lines)


def junit(report: Mapping[str, Any]) -> str:
    """JUnit XML: one test case per Service checked, failed when a finding breaks a rule."""
    cases = []
    for service in report["services"]:
        mine = [f for f in report["findings"] if f["service"] == service and f["failed"]]
        body = ""
        if mine:
            text = "\n".join(
                f"{f['port']} {f['source']}: {_line(f)} [{', '.join(f['failed'])}]" for f in mine
            )
            body = (
                f"<failure message={quoteattr(f'{len(mine)} source(s) break the policy')}>"
                f"{escape(text)}</failure>"
            )
        cases.append(
            f'  <testcase classname="routescope.check" name={quoteattr(service)}>{body}'
            "</testcase>"
        )
    failures = sum(1 for case in cases if "<failure" in case)
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<testsuite name="routescope check" tests="{len(cases)}" ' f'failures="{failures}">',
            *cases,
            "</testsuite>",
        ]
    )


def render(report: Mapping[str, Any], fmt: str) -> str:
    """``-o markdown|junit|json``."""
    if fmt == "json":
        return json.dumps(report)
    return junit(report) if fmt == "junit" else markdown(report)
