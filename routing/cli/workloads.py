"""``routescope check``'s workloads: the Pods a change's Deployments, StatefulSets and
DaemonSets leave running, and the endpoints every Service then selects.

Model (the change's end state, after its rollout has finished):

* **Pod template labels.** A workload already running gets its pods relabelled with the
  template's labels (the controllers' own labels — ``pod-template-hash``,
  ``controller-revision-hash``, the StatefulSet pod name and index — are kept). The pods stay
  where they are, with their readiness: a rolling update's end state has as many pods,
  placed by the same rule, and routing only cares which Services select them and where.
* **A new Deployment / StatefulSet** gets ``spec.replicas`` (default 1) pods placed one by
  one as ``routing.engine.scaling.pick_node`` places a what-if's new replica — the
  default scheduler's spreading, roughly: a Ready, schedulable node with the fewest pods of
  the workload, then the emptiest zone, then name order — among the nodes whose labels match
  ``nodeSelector`` and whose ``NoSchedule`` / ``NoExecute`` taints the pod template
  tolerates. No room (CPU, memory), affinity or topology spread constraints are modelled. A
  replica with no node left stays Pending (no endpoint), named in the notes.
* **A DaemonSet** (new or changed) runs one pod on every node not being deleted whose labels
  match ``nodeSelector`` and whose taints it tolerates — with the tolerations the DaemonSet
  controller adds to every daemon pod (``not-ready`` / ``unreachable`` NoExecute,
  ``unschedulable``, memory / disk / PID pressure NoSchedule: pkg/controller/daemon/util,
  ``AddOrUpdateDaemonPodTolerations``), so cordoned nodes get one too. Its pods on other
  nodes go away.
* **Readiness.** Pods already running keep their ``Ready`` condition; a new pod is Ready
  (its readiness probe is assumed to pass) unless its node is NotReady.
* **A replicas change of a running Deployment / StatefulSet** is the what-if's ``scale``
  (``routing.engine.scaling``), applied by ``check`` after this.

Endpoints are then derived from the Pods by the EndpointSlice controller's rules
(``routing.engine.kube_pods.derive_endpoints_from_pods``: selector, readiness and
``publishNotReadyAddresses``, named target ports, ``trafficDistribution`` hints) for every
Service the change may touch — a replaced Service whose selector, ``publishNotReadyAddresses``
or ports changed, a Service selecting a pod the change relabelled, created or removed — and
one whose derived endpoints differ before and after the change gets the derived ones; all
others keep the cluster's EndpointSlices as they are (so a big cluster pays only for what
the change touches).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from routing.cli.errors import CliError
from routing.engine.kube_pods import derive_endpoints_from_pods, pod_from_object
from routing.engine.scaling import free_ips, pick_node
from routing.engine.snapshot import sort_endpoints

#: Labels a controller puts on its pods besides the template's.
CONTROLLER_LABELS = (
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "pod-template-generation",
)
#: Tolerations the DaemonSet controller adds to every daemon pod (key, effect).
DAEMON_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
#: ``ownerReferences`` of a new Deployment's pods: a ReplicaSet ``NAME-HASH`` with the
#: ``pod-template-hash`` label, which the adapter reads as the Deployment.
NEW_HASH = "routescope"


@dataclass
class Laid:
    """The objects with the workloads laid over them."""

    objects: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _key(obj: Mapping[str, Any]) -> str:
    return f"{_meta(obj).get('namespace') or 'default'}/{_meta(obj).get('name')}"


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """k8s.io/api core/v1 ``Toleration.ToleratesTaint``: an empty effect matches every
    effect; an empty key with ``Exists`` matches every key; ``Exists`` any value, ``Equal``
    (the default) the same value."""
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        operator = tol.get("operator") or "Equal"
        if not tol.get("key"):
            if operator == "Exists":
                return True
            continue
        if tol.get("key") != taint.get("key"):
            continue
        if operator == "Exists" or (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def fits(node: Mapping[str, Any], pod_spec: Mapping[str, Any], *, daemon: bool = False) -> bool:
    """The node's labels match ``nodeSelector`` and every NoSchedule / NoExecute taint of
    it is tolerated (with the DaemonSet controller's own tolerations for daemon pods)."""
    labels = _meta(node).get("labels") or {}
    wanted = pod_spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        return False
    tolerations = list(pod_spec.get("tolerations") or ())
    if daemon:
        tolerations += [
            {"key": k, "operator": "Exists", "effect": e} for k, e in DAEMON_TOLERATIONS
        ]
    return all(
        tolerates(tolerations, taint)
        for taint in (node.get("spec") or {}).get("taints") or ()
        if taint.get("effect") in ("NoSchedule", "NoExecute")
    )


def _owned(pod: Mapping[str, Any], kind: str, name: str) -> bool:
    """Is ``pod`` run by the workload ``kind``/``name`` of its namespace?"""
    labels = _meta(pod).get("labels") or {}
    for ref in _meta(pod).get("ownerReferences") or ():
        ref_kind, ref_name = ref.get("kind"), str(ref.get("name", ""))
        if ref_kind == kind and ref_name == name:
            return True
        if kind == "Deployment" and ref_kind == "ReplicaSet":
            template_hash = labels.get("pod-template-hash")
            base = (
                ref_name[: -len(template_hash) - 1]
                if template_hash and ref_name.endswith(f"-{template_hash}")
                else ref_name.rsplit("-", 1)[0]
            )
            if base == name:
                return True
    return False


def _pod(
    workload: Mapping[str, Any],
    name: str,
    node: Mapping[str, Any],
    ip: str,
    ready: bool,
) -> dict[str, Any]:
    """A running pod of ``workload``'s template on ``node``."""
    kind, meta = workload["kind"], _meta(workload)
    template = (workload.get("spec") or {}).get("template") or {}
    labels = dict(_meta(template).get("labels") or {})
    owner = {"apiVersion": "apps/v1", "kind": kind, "name": meta["name"], "controller": True}
    if kind == "Deployment":
        labels["pod-template-hash"] = NEW_HASH
        owner.update(kind="ReplicaSet", name=f"{meta['name']}-{NEW_HASH}")
    spec = copy.deepcopy(template.get("spec") or {})
    spec["nodeName"] = _meta(node)["name"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace") or "default",
            "labels": labels,
            "ownerReferences": [owner],
        },
        "spec": spec,
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def _relabelled(pod: dict[str, Any], template: Mapping[str, Any]) -> dict[str, Any] | None:
    """``pod`` with the template's labels and containers, or None when they are the same."""
    old = _meta(pod).get("labels") or {}
    labels = {k: v for k, v in old.items() if k in CONTROLLER_LABELS}
    labels.update(_meta(template).get("labels") or {})
    containers = (template.get("spec") or {}).get("containers")
    same_ports = containers is None or [c.get("ports") for c in containers] == [
        c.get("ports") for c in (pod.get("spec") or {}).get("containers") or ()
    ]
    if labels == old and same_ports:
        return None
    out = dict(pod)
    out["metadata"] = {**_meta(pod), "labels": labels}
    if containers is not None:
        out["spec"] = {**(pod.get("spec") or {}), "containers": copy.deepcopy(containers)}
    return out


def _label_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    parts = [f"-{k}={old[k]}" for k in sorted(old) if k not in CONTROLLER_LABELS and k not in new]
    parts += [
        f"{'~' if k in old else '+'}{k}={new[k]}"
        for k in sorted(new)
        if old.get(k) != new[k] and k not in CONTROLLER_LABELS
    ]
    return " ".join(parts) or "ports"


@dataclass
class _Cluster:
    """What placing pods needs: the Node objects, the engine's nodes, addresses in use."""

    nodes: dict[str, dict[str, Any]]
    engine_nodes: Mapping[str, Any]
    used: set[str]


def lay(
    objects: list[dict[str, Any]], workloads: list[tuple[str, dict[str, Any]]], snapshot: Any
) -> Laid:
    """Lay ``workloads`` (path, manifest) over ``objects`` (the cluster's, as the engine
    snapshot ``snapshot`` reads them): relabelled, new and removed Pods (new dicts; the
    cluster's own are kept as they are)."""
    if not workloads:
        return Laid(objects)
    used = {
        str((o.get("status") or {}).get("podIP"))
        for o in objects
        if o.get("kind") == "Pod" and (o.get("status") or {}).get("podIP")
    }
    used |= {
        ep.ip for ports in snapshot.endpoint_index.values() for eps in ports.values() for ep in eps
    }
    cluster = _Cluster(
        {str(_meta(o).get("name")): o for o in objects if o.get("kind") == "Node"},
        snapshot.nodes,
        used,
    )
    laid = Laid(list(objects))
    for path, workload in workloads:
        kind, key = workload["kind"], _key(workload)
        namespace, _, name = key.partition("/")
        if not isinstance((workload.get("spec") or {}).get("template"), Mapping):
            raise CliError(f"{path}: {kind} {key} has no spec.template")
        mine = [
            i
            for i, o in enumerate(laid.objects)
            if o.get("kind") == "Pod"
            and (_meta(o).get("namespace") or "default") == namespace
            and _owned(o, kind, name)
        ]
        _relabel(laid, workload, mine)
        if kind == "DaemonSet":
            _daemons(laid, cluster, workload, mine)
        elif not mine:
            _replicas(laid, cluster, workload, path)
        # else: replicas of a running workload are the what-if's scale, in check
    return laid


def _relabel(laid: Laid, workload: Mapping[str, Any], mine: list[int]) -> None:
    """The workload's running pods with its template's labels and container ports."""
    template = workload["spec"]["template"]
    changes = []
    for i in mine:
        new = _relabelled(laid.objects[i], template)
        if new is not None:
            old = _meta(laid.objects[i]).get("labels") or {}
            changes.append(_label_change(old, _meta(new)["labels"]))
            laid.objects[i] = new
    if changes:
        laid.notes.append(
            f"{workload['kind']} {_key(workload)}: pod template {changes[0]} "
            f"on {len(changes)} pod(s)"
        )


def _daemons(laid: Laid, cluster: _Cluster, workload: Mapping[str, Any], mine: list[int]) -> None:
    """One pod per fitting node: the DaemonSet's pods elsewhere go, missing ones come."""
    key, name = _key(workload), _meta(workload)["name"]
    pod_spec = workload["spec"]["template"].get("spec") or {}
    nodes = cluster.nodes
    want = {
        n
        for n, node in nodes.items()
        if not _meta(node).get("deletionTimestamp") and fits(node, pod_spec, daemon=True)
    }
    have = {(laid.objects[i].get("spec") or {}).get("nodeName"): i for i in mine}
    gone = {i for n, i in have.items() if n not in want}
    if gone:
        laid.objects[:] = [o for i, o in enumerate(laid.objects) if i not in gone]
        laid.notes.append(
            f"DaemonSet {key}: pods leave {len(gone)} node(s) (nodeSelector / taints no longer fit)"
        )
    added = sorted(want - set(have))
    for node_name in added:
        engine_node = cluster.engine_nodes.get(node_name)
        ip = next(free_ips(engine_node, cluster.used))
        ready = engine_node is None or engine_node.ready
        laid.objects.append(_pod(workload, f"{name}-{node_name}", nodes[node_name], ip, ready))
    if added:
        left = sorted(set(nodes) - want)
        unfit = f"; not {', '.join(left[:5])}{' …' if len(left) > 5 else ''}" if left else ""
        laid.notes.append(
            f"DaemonSet {key}: {len(added)} new pod(s), one per fitting node "
            f"({len(want)} of {len(nodes)} nodes fit{unfit})"
        )


def _replicas(laid: Laid, cluster: _Cluster, workload: Mapping[str, Any], path: str) -> None:
    """A new Deployment's or StatefulSet's replicas, placed one by one by ``pick_node``."""
    kind, key, name = workload["kind"], _key(workload), _meta(workload)["name"]
    spec = workload["spec"]
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise CliError(f"{path}: {kind} {key}: bad replicas {replicas!r}")
    pod_spec = spec["template"].get("spec") or {}
    fitting = {
        n: cluster.engine_nodes[n]
        for n, node in cluster.nodes.items()
        if n in cluster.engine_nodes and fits(node, pod_spec)
    }
    members: list[Any] = []
    placed: dict[str, int] = {}
    for serial in range(replicas):
        node = pick_node(members, fitting)
        if node is None:
            laid.notes.append(
                f"{kind} {key}: {replicas - serial} of {replicas} replica(s) Pending "
                "(no Ready, schedulable node fits nodeSelector and taints)"
            )
            break
        pod_name = f"{name}-{serial}" if kind == "StatefulSet" else f"{name}-{NEW_HASH}-{serial}"
        ip = next(free_ips(node, cluster.used))
        pod = _pod(workload, pod_name, cluster.nodes[node.name], ip, True)
        laid.objects.append(pod)
        members.append(pod_from_object(pod))
        placed[node.name] = placed.get(node.name, 0) + 1
    if placed:
        laid.notes.append(
            f"{kind} {key}: new, {sum(placed.values())} pod(s) on "
            + ", ".join(f"{n}×{c}" if c > 1 else n for n, c in sorted(placed.items()))
        )


def _selects(selector: Any, pod: Mapping[str, Any]) -> bool:
    labels = _meta(pod).get("labels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector)


def _candidates(
    before: Any,
    after: Any,
    before_pods: Sequence[Mapping[str, Any]],
    after_pods: Sequence[Mapping[str, Any]],
    replaced: set[str],
) -> set[str]:
    """Services whose endpoints may change: a replaced Service whose selector,
    ``publishNotReadyAddresses`` or ports changed, and every selector Service that selects
    (before or after) a pod the change relabelled, created or removed (those pods are new
    objects, the others the cluster's own)."""
    before_ids, after_ids = {id(p) for p in before_pods}, {id(p) for p in after_pods}
    changed = [p for p in after_pods if id(p) not in before_ids]
    changed += [p for p in before_pods if id(p) not in after_ids]
    out = set()
    for key in replaced:
        old, new = before.services.get(key), after.services.get(key)
        if (
            new is not None
            and new.selector
            and (
                old is None
                or (old.selector, old.publish_not_ready, old.ports)
                != (new.selector, new.publish_not_ready, new.ports)
            )
        ):
            out.add(key)
    namespaces = {_meta(p).get("namespace") or "default" for p in changed}
    for snapshot in (before, after):
        for key, svc in snapshot.services.items():
            if (
                svc.namespace in namespaces
                and svc.proxy_name is None
                and key in after.services
                and any(_selects(svc.selector, p) for p in changed)
            ):
                out.add(key)
    return out


def rederive(
    before: Any,
    after: Any,
    before_pods: Sequence[Mapping[str, Any]],
    after_pods: Sequence[Mapping[str, Any]],
    replaced: set[str],
) -> tuple[Any, set[str]]:
    """``after`` with endpoints derived from the pods for every Service the change may
    touch (``_candidates``) whose derived endpoints differ before and after; (snapshot,
    keys of those Services). The other Services keep the cluster's EndpointSlices."""
    candidates = _candidates(before, after, before_pods, after_pods, replaced)
    if not candidates:
        return after, set()
    namespaces = {key.partition("/")[0] for key in candidates}

    def derived(snapshot: Any, pods: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        services = {k: snapshot.services[k] for k in candidates if k in snapshot.services}
        mine = [p for p in pods if (_meta(p).get("namespace") or "default") in namespaces]
        return {
            key: {p: sort_endpoints(eps) for p, eps in ports.items()}
            for key, ports in derive_endpoints_from_pods(services, mine, snapshot.nodes).items()
        }

    old, new = derived(before, before_pods), derived(after, after_pods)
    changed = {key for key, ports in new.items() if old.get(key) != ports}
    if not changed:
        return after, changed
    index = dict(after.endpoint_index)
    node_services = dict(after.node_services)
    for key in changed:
        index[key] = new[key]
        for eps in new[key].values():
            for ep in eps:
                if ep.node:
                    node_services[ep.node] = node_services.get(ep.node, frozenset()) | {key}
    return after.evolve(endpoint_index=index, node_services=node_services), changed
