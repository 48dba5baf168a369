"""``WhatIf``: a what-if parsed once from whichever door it came through.

A stored scenario's ``changes`` JSON, the API's ``set`` object and the CLI's ``--set
FIELD=VALUE`` flags all become the same immutable value, checked against the field table
(``routing.engine.whatif_fields``); ``scenario()`` is the engine's ``Scenario`` for it.
Checks that need the cluster (does the Service exist, does its release have the value)
are the engine's, in ``apply_scenario``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from routing.engine.errors import INVALID, UNKNOWN, ScenarioError
from routing.engine.scenario import Scenario
from routing.engine.whatif_fields import Value, field_named

_EMPTY: Mapping[str, Any] = MappingProxyType({})

#: Keys of a stored scenario's ``changes`` JSON (``routing.models.Scenario.changes``).
SET_KEYS = (
    "nodes_down",
    "nodes_cordoned",
    "nodes_drained",
    "endpoints_not_ready",
    "endpoints_terminating",
)
MAP_KEYS = ("node_proxy_modes", "node_ipvs_schedulers", "scale")
CHANGE_KEYS = ("services", "proxy_mode", "ipvs_scheduler", *MAP_KEYS, *SET_KEYS)


def parse_set_flags(
    items: Iterable[str], *, flag: str = "--set", shape: str = "FIELD=VALUE"
) -> dict[str, str]:
    """``["FIELD=VALUE", ...]`` (repeated CLI flags) -> ``{FIELD: VALUE}``; a malformed
    item is a ``ScenarioError`` on ``services`` (the names and values are checked later)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ScenarioError(f"{flag} {item!r} is not {shape}", field="set", code=INVALID)
        out[name.strip()] = value.strip()
    return out


def service_fields(key: str, raw: Mapping[str, object]) -> dict[str, Value]:
    """One Service's ``{field: value}`` checked and typed by the field table."""
    out: dict[str, Value] = {}
    for name, value in raw.items():
        where = f"services.{key}.{name}"
        out[name] = field_named(name, where=where).parse(value, where=where)
    return out


@dataclass(frozen=True)
class WhatIf:
    """The user's what-if as data: Service fields, kube-proxy changes, nodes, endpoints."""

    #: "namespace/name" -> {field name -> typed value}.
    services: Mapping[str, Mapping[str, Value]] = field(default_factory=lambda: _EMPTY)
    proxy_mode: str | None = None
    ipvs_scheduler: str | None = None
    node_proxy_modes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    node_ipvs_schedulers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    scale: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    nodes_down: frozenset[str] = frozenset()
    nodes_cordoned: frozenset[str] = frozenset()
    nodes_drained: frozenset[str] = frozenset()
    endpoints_not_ready: frozenset[str] = frozenset()
    endpoints_terminating: frozenset[str] = frozenset()

    @classmethod
    def from_changes(cls, changes: Mapping[str, Any]) -> WhatIf:
        """A stored scenario's ``changes`` JSON; ``ScenarioError`` names the key at fault."""
        unknown = sorted(set(changes) - set(CHANGE_KEYS))
        if unknown:
            raise ScenarioError(
                f"unknown change {unknown[0]!r} (known: {', '.join(CHANGE_KEYS)})",
                field=unknown[0],
                code=UNKNOWN,
            )
        services = changes.get("services") or {}

        def names(key: str) -> frozenset[str]:
            return frozenset(changes.get(key) or ())

        def mapping(key: str) -> Mapping[str, Any]:
            return MappingProxyType(dict(changes.get(key) or {}))

        return cls(
            services=MappingProxyType(
                {
                    key: MappingProxyType(service_fields(key, fields))
                    for key, fields in services.items()
                }
            ),
            proxy_mode=changes.get("proxy_mode") or None,
            ipvs_scheduler=changes.get("ipvs_scheduler") or None,
            node_proxy_modes=mapping("node_proxy_modes"),
            node_ipvs_schedulers=mapping("node_ipvs_schedulers"),
            scale=mapping("scale"),
            nodes_down=names("nodes_down"),
            nodes_cordoned=names("nodes_cordoned"),
            nodes_drained=names("nodes_drained"),
            endpoints_not_ready=names("endpoints_not_ready"),
            endpoints_terminating=names("endpoints_terminating"),
        )

    @classmethod
    def for_service(
        cls,
        service: str,
        sets: Mapping[str, object],
        *,
        proxy_mode: str | None = None,
        ipvs_scheduler: str | None = None,
    ) -> WhatIf:
        """One Service's ``set`` (API) / ``--set`` (CLI) plus the cluster-wide proxy flags."""
        fields = service_fields(service, sets) if sets else None
        return cls(
            services=MappingProxyType({service: MappingProxyType(fields)}) if fields else _EMPTY,
            proxy_mode=proxy_mode or None,
            ipvs_scheduler=ipvs_scheduler or None,
        )

    def scenario(self) -> Scenario:
        """The engine's ``Scenario`` for this what-if."""
        # Both are immutable: the mappings are shared, not copied (simulate's hot path).
        return Scenario(
            service_overrides=self.services,
            proxy_mode=self.proxy_mode,
            ipvs_scheduler=self.ipvs_scheduler,
            node_proxy_modes=self.node_proxy_modes,
            node_ipvs_schedulers=self.node_ipvs_schedulers,
            scale=self.scale,
            nodes_down=self.nodes_down,
            nodes_cordoned=self.nodes_cordoned,
            nodes_drained=self.nodes_drained,
            endpoints_not_ready=self.endpoints_not_ready,
            endpoints_terminating=self.endpoints_terminating,
        )

    def changes(self) -> dict[str, Any]:
        """The stored-scenario JSON of this what-if (keys left out when empty)."""
        out: dict[str, Any] = {}
        if self.services:
            out["services"] = {key: dict(fields) for key, fields in self.services.items()}
        for key in ("proxy_mode", "ipvs_scheduler"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        for key in MAP_KEYS:
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        for key in SET_KEYS:
            if getattr(self, key):
                out[key] = sorted(getattr(self, key))
        return out

    @property
    def touched_nodes(self) -> frozenset[str]:
        """Nodes the what-if takes down, drains or switches to another kube-proxy setting:
        their answers may part from their zone's, so a preview asks them one by one."""
        return (
            self.nodes_down
            | self.nodes_drained
            | set(self.node_proxy_modes)
            | set(self.node_ipvs_schedulers)
        )
