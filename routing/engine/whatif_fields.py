"""The what-if field table: every Service field a what-if may set, described once.

Everything else is derived from ``FIELDS``: the scenario model (``routing.engine.scenario``),
the API's ``set`` serializer and OpenAPI docs, the pages' form, the CLI's ``--set``
parsing, the Service patch builder (``routing.engine.servicepatch``) and the fake API
server's validation. Adding a field means adding a ``WhatIfField`` here (and, if
kube-proxy reads it, teaching the engine what it does); see "Adding a what-if field" in
``ARCHITECTURE.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from routing.engine.errors import INVALID, INVALID_CHOICE, UNSUPPORTED_RELEASE, ScenarioError
from routing.engine.types import (
    SESSION_AFFINITIES,
    TRAFFIC_DISTRIBUTIONS,
    TRAFFIC_POLICIES,
    Version,
)

#: Every Service type kube-proxy programs.
ALL_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
#: Types with an address outside the cluster (a Service with externalIPs counts too).
EXTERNAL_TYPES = ("NodePort", "LoadBalancer")

_NONE: Mapping[str, Any] = MappingProxyType({})

#: A what-if value: a string choice or a whole number.
Value = str | int


@dataclass(frozen=True, eq=False)  # one instance per field: compared and hashed by identity
class WhatIfField:
    """One Service field a what-if may set.

    ``name`` is the spelling users type (``--set NAME=VALUE``, the API's ``set`` keys, a
    stored scenario's ``changes.services`` keys): the Kubernetes field, dotted when nested.
    """

    name: str
    #: the engine ``Service`` attribute the value lands on.
    attr: str
    #: ``str`` (one of ``values``) or ``int`` (``minimum`` .. ``maximum``).
    kind: type
    help: str
    #: allowed values of a ``str`` field; ``unset`` (when not None) is allowed too.
    values: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    #: the value that removes the field from the object (None: it cannot be removed).
    unset: str | None = None
    #: the value Kubernetes uses when the field is omitted (what "unset" means).
    default: Value | None = None
    #: value -> (first, last) Kubernetes minor whose API accepts it; last None = still does.
    #: Values missing here exist in every release the engine models.
    releases: Mapping[str, tuple[Version, Version | None]] = field(default_factory=lambda: _NONE)
    #: Service types the field acts on (informational for forms and docs; the engine models
    #: what kube-proxy does with it on any type).
    service_types: tuple[str, ...] = ALL_TYPES
    #: (other field, value) this field needs on the Service after the what-if, e.g. a
    #: ClientIP timeout needs ``sessionAffinity: ClientIP``.
    requires: tuple[str, str] | None = None

    @property
    def path(self) -> tuple[str, ...]:
        """Where the field lives in a Service object: ``("spec", "sessionAffinity")``."""
        return ("spec", *self.name.split("."))

    @cached_property
    def choices(self) -> tuple[str, ...]:
        """Every accepted string, the unset value first (empty for ``int`` fields)."""
        return ((self.unset,) if self.unset is not None else ()) + self.values

    @cached_property
    def _accepted(self) -> frozenset[str]:
        return frozenset(self.choices)

    def parse(self, raw: object, *, where: str) -> Value:
        """``raw`` (text from a flag or a form, or JSON) as this field's value; raises
        ``ScenarioError`` with ``field=where`` when it is not an allowed value."""
        if self.kind is int:
            text = (
                str(raw).strip()
                if isinstance(raw, (str, int)) and not isinstance(raw, bool)
                else ""
            )
            if not text.lstrip("-").isdigit():
                raise ScenarioError(
                    f"{self.name}={raw!r} is not a whole number", field=where, code=INVALID
                )
            number = int(text)
            if (self.minimum is not None and number < self.minimum) or (
                self.maximum is not None and number > self.maximum
            ):
                raise ScenarioError(
                    f"{self.name}={number} is not between {self.minimum} and {self.maximum}",
                    field=where,
                    code=INVALID,
                )
            return number
        if isinstance(raw, str) and raw in self._accepted:
            return raw
        shown = ", ".join(v for v in self.choices if v) + (
            ' or "" (unset)' if self.unset == "" else ""
        )
        raise ScenarioError(
            f"{self.name}={raw!r} is not one of {shown}", field=where, code=INVALID_CHOICE
        )

    def check_release(self, value: Value, version: Version, *, where: str) -> None:
        """Refuse a value the cluster's Kubernetes release does not have."""
        check_release(self.name, value, self.releases.get(str(value)), version, where=where)

    def engine_value(self, value: Value) -> Any:
        """The engine attribute's value for ``value`` (the unset value becomes None)."""
        return None if self.unset is not None and value == self.unset else value

    def describe(self) -> str:
        """One line for help texts: what the field is and what it accepts."""
        if self.kind is int:
            accepts = f"a whole number {self.minimum}..{self.maximum}"
        else:
            accepts = ", ".join(v for v in self.values) + (
                ' ("" removes it)' if self.unset == "" else ""
            )
        acts = (
            ""
            if self.service_types == ALL_TYPES
            else f" Acts on {', '.join(self.service_types)} Services."
        )
        needs = f" Needs {self.requires[0]}={self.requires[1]}." if self.requires else ""
        return f"{self.help} Accepts {accepts}.{acts}{needs}"


def check_release(
    name: str,
    value: Value,
    span: tuple[Version, Version | None] | None,
    version: Version,
    *,
    where: str,
) -> None:
    """Refuse ``name=value`` when ``version`` is outside ``span`` (first, last minor; last
    None = still there; span None = every release): ``ScenarioError(code=UNSUPPORTED_RELEASE)``."""
    if span is None:
        return
    first, last = span
    if version < first:
        raise ScenarioError(
            f"{name}={value} needs Kubernetes {first[0]}.{first[1]}+ "
            f"(cluster runs {version[0]}.{version[1]})",
            field=where,
            code=UNSUPPORTED_RELEASE,
        )
    if last is not None and version > last:
        raise ScenarioError(
            f"{name}={value} was removed after Kubernetes {last[0]}.{last[1]} "
            f"(cluster runs {version[0]}.{version[1]})",
            field=where,
            code=UNSUPPORTED_RELEASE,
        )


#: proxy mode -> (first, last) Kubernetes minor whose kube-proxy has it, for the
#: ``proxy_mode`` / ``node_proxy_modes`` what-ifs. userspace: removed in 1.26
#: (CHANGELOG-1.26, kubernetes/kubernetes#112133: "the userspace proxy mode ... has
#: been removed"); 1.25 was the last release with ``pkg/proxy/userspace``.
MODE_RELEASES: Mapping[str, tuple[Version, Version | None]] = MappingProxyType(
    {"userspace": ((1, 0), (1, 25))}
)


FIELDS: tuple[WhatIfField, ...] = (
    WhatIfField(
        "internalTrafficPolicy",
        "internal_traffic_policy",
        str,
        values=TRAFFIC_POLICIES,
        default="Cluster",
        help="Local keeps calls from pods on their own node (dropped where no endpoint is local).",
    ),
    WhatIfField(
        "externalTrafficPolicy",
        "external_traffic_policy",
        str,
        values=TRAFFIC_POLICIES,
        default="Cluster",
        service_types=EXTERNAL_TYPES,
        help="Local keeps external traffic on the node it arrives at and keeps the client IP.",
    ),
    WhatIfField(
        "trafficDistribution",
        "traffic_distribution",
        str,
        values=TRAFFIC_DISTRIBUTIONS,
        unset="",
        default="",
        releases={
            "PreferClose": ((1, 31), None),
            "PreferSameZone": ((1, 34), None),
            "PreferSameNode": ((1, 34), None),
        },  # KEP-4444, KEP-3015
        help="Topology preference; the EndpointSlice controller writes hints kube-proxy follows.",
    ),
    WhatIfField(
        "sessionAffinity",
        "session_affinity",
        str,
        values=SESSION_AFFINITIES,
        default="None",
        help="ClientIP sticks each client to one endpoint.",
    ),
    WhatIfField(
        # kube-proxy programs it as the iptables "recent --seconds", the nftables affinity
        # set's timeout and the IPVS persistence timeout; the API accepts 1..86400 and only
        # beside sessionAffinity ClientIP (MaxClientIPServiceAffinitySeconds).
        "sessionAffinityConfig.clientIP.timeoutSeconds",
        "affinity_timeout",
        int,
        minimum=1,
        maximum=86400,
        default=10800,
        requires=("sessionAffinity", "ClientIP"),
        help="How long a ClientIP client sticks to its endpoint after its last packet, in seconds.",
    ),
)

#: name -> field.
BY_NAME: Mapping[str, WhatIfField] = MappingProxyType({f.name: f for f in FIELDS})
#: Every name, in table order.
NAMES: tuple[str, ...] = tuple(BY_NAME)


def field_named(name: str, *, where: str) -> WhatIfField:
    """The field called ``name``; ``ScenarioError(code="unknown")`` naming the allowed ones."""
    found = BY_NAME.get(name)
    if found is None:
        raise ScenarioError(
            f"cannot override {name!r} (allowed: {', '.join(NAMES)})", field=where, code="unknown"
        )
    return found
