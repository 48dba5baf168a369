"""The traffic and cost model of a stored cluster: ONE function, ``cost_inputs(cluster)``.

Every page, answer, finding and total of a cluster is priced with the ``CostModel`` this
returns (the cluster's ``CostSettings`` — the engine's defaults when it has none — and
its ``ServiceTraffic`` overrides). ``CostModel.fingerprint()`` changes whenever an input
does: the cached report is keyed by it (``routing.reports``), so saving the settings
leads to a re-analysis, and a stored analysis can be keyed by it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from cluster.models import Cluster
from routing.engine.costmodel import CostModel, Traffic
from routing.models import CostSettings, ServiceTraffic

#: What the engine calls the model of one cluster's costs.
CostInputs = CostModel

#: The CostSettings fields that feed ``CostModel`` (latencies and price) and ``Traffic``.
LATENCY_FIELDS = ("same_node_ms", "same_zone_ms", "cross_zone_ms", "unknown_ms")
TRAFFIC_FIELDS = ("request_rate", "external_request_rate", "request_bytes", "response_bytes")
SETTINGS_FIELDS = (*TRAFFIC_FIELDS, "price_per_gb", *LATENCY_FIELDS)


def _traffic(row: Any) -> Traffic:
    return Traffic(**{name: getattr(row, name) for name in TRAFFIC_FIELDS})


#: attribute of a ``Cluster`` instance holding its model for the rest of the request.
_MEMO = "_routescope_cost_inputs"
#: attribute a hot path may set on a ``Cluster`` it loaded by hand: its ``CostSettings``
#: version (None: no row), read in the same query (``routing.api.views._cluster_named``).
COST_VERSION = "cost_version"
#: Models shared by the requests of this process, keyed by cluster pk, creation time and
#: settings version: every save bumps the version (``_bump``), so a key never goes stale.
_SHARED: dict[tuple[Any, ...], CostModel] = {}
_SHARED_MAX = 64
_UNREAD = object()


def cost_inputs(cluster: Cluster) -> CostModel:
    """The cost model of ``cluster``: its settings (defaults when never saved) and every
    Service override. Read once per ``Cluster`` instance (one request's): the saving
    functions below forget it. Across requests the model is shared per settings version,
    which costs one small query (none when the instance carries ``COST_VERSION``) instead
    of reading the settings and every override again."""
    memo = cluster.__dict__.get(_MEMO)
    if memo is None:
        memo = cluster.__dict__[_MEMO] = _shared(cluster)
    return memo


def _shared(cluster: Cluster) -> CostModel:
    if "created_at" not in cluster.__dict__ or connection.in_atomic_block:
        # A deferred creation time would cost a query of its own; inside a transaction a
        # version may still roll back and be handed out again with other inputs.
        return _read(cluster)
    version = cluster.__dict__.get(COST_VERSION, _UNREAD)
    if version is _UNREAD:
        table = connection.ops.quote_name(CostSettings._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT version FROM {table} WHERE cluster_id = %s", [cluster.pk])
            row = cursor.fetchone()
        version = row[0] if row else None
    key = (cluster.pk, cluster.created_at, version)
    model = _SHARED.get(key)
    if model is None:
        model = _read(cluster)
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.pop(next(iter(_SHARED)), None)
        _SHARED[key] = model
    return model


def _read(cluster: Cluster) -> CostModel:
    stored = CostSettings.objects.filter(cluster=cluster).first()
    settings = stored or CostSettings(cluster=cluster)
    # Saving an override creates the settings row (``_bump``): no row, no override to read.
    overrides = tuple(
        (f"{row.namespace}/{row.name}", _traffic(row))
        for row in (ServiceTraffic.objects.filter(cluster=cluster) if stored else ())
    )
    return CostModel(
        traffic=_traffic(settings),
        price_per_gb=settings.price_per_gb,
        services=overrides,
        **{name: getattr(settings, name) for name in LATENCY_FIELDS},
    )


@dataclass(frozen=True)
class SettingsView:
    """What the settings page shows: the stored row (or defaults) and the overrides."""

    settings: CostSettings
    overrides: list[ServiceTraffic]


def cost_settings(cluster: Cluster) -> SettingsView:
    """The cluster's settings row (unsaved defaults when there is none) and overrides."""
    stored = CostSettings.objects.filter(cluster=cluster).first()
    return SettingsView(
        stored or CostSettings(cluster=cluster),
        list(ServiceTraffic.objects.filter(cluster=cluster)),
    )


def _bump(cluster: Cluster) -> None:
    cluster.__dict__.pop(_MEMO, None)
    row, _ = CostSettings.objects.get_or_create(cluster=cluster)
    CostSettings.objects.filter(pk=row.pk).update(version=F("version") + 1)


@transaction.atomic
def cost_settings_save(*, cluster: Cluster, values: dict[str, Any]) -> CostSettings:
    """Store the cluster-wide inputs (``SETTINGS_FIELDS``) and bump the version."""
    row, _ = CostSettings.objects.get_or_create(cluster=cluster)
    for name in SETTINGS_FIELDS:
        setattr(row, name, values[name])
    row.full_clean()
    row.save()
    _bump(cluster)
    row.refresh_from_db()
    return row


@transaction.atomic
def service_traffic_save(
    *, cluster: Cluster, namespace: str, name: str, values: dict[str, Any] | None
) -> None:
    """Set Service ``namespace/name``'s own traffic (``None``: back to the defaults)."""
    if values is None:
        ServiceTraffic.objects.filter(cluster=cluster, namespace=namespace, name=name).delete()
    else:
        row = ServiceTraffic(
            cluster=cluster,
            namespace=namespace,
            name=name,
            **{k: values[k] for k in TRAFFIC_FIELDS},
        )
        row.full_clean(validate_unique=False)
        ServiceTraffic.objects.update_or_create(
            cluster=cluster,
            namespace=namespace,
            name=name,
            defaults={k: values[k] for k in TRAFFIC_FIELDS},
        )
    _bump(cluster)
