"""The findings page's and the settings page's data: filters, deep links, "try the fix",
and the cost model's forms (issue 16, items 2 and 4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.urls import reverse

from cluster.models import Cluster
from dashboard.forms import SERVICE_PARAMS, param_of
from routing.costs import LATENCY_FIELDS, SETTINGS_FIELDS, TRAFFIC_FIELDS, cost_inputs
from routing.engine.analysis.model import SOURCES
from routing.engine.analysis.report import SEVERITIES, Finding
from routing.engine.costmodel import LOCALITY_LABELS, UNKNOWN, CostModel, Traffic
from routing.models import CostSettings, ServiceTraffic
from routing.whatif.preview import Entry, service_cost

#: Findings per page of the findings list.
PER_PAGE = 50
NO_SOURCE = "none"
_FIELD_OF = {spec.name: spec for spec in SERVICE_PARAMS.values()}


def anchor(finding: Finding) -> str:
    """The id of the finding's section on its Service page."""
    return f"finding-{finding.code}-{finding.port or 'service'}".lower()


def service_link(cluster: Cluster, finding: Finding) -> str:
    """The finding's section on its Service page (its port selected)."""
    namespace, _, name = finding.service.partition("/")
    url = reverse("dashboard:service-detail", args=[cluster.name, namespace, name])
    query = f"?{urlencode({'port': finding.port})}" if finding.port else ""
    return f"{url}{query}#{anchor(finding)}"


def fix_link(cluster: Cluster, finding: Finding) -> str | None:
    """The what-if page opened with the change that removes the finding (None: no fix)."""
    if finding.fix is None:
        return None
    field, value = finding.fix
    spec = _FIELD_OF[field]
    query = {"service": finding.service, param_of(spec): value}
    return f"{reverse('dashboard:whatif', args=[cluster.name])}?{urlencode(query)}"


@dataclass(frozen=True)
class FindingLink:
    """One finding with where to read it and how to try its fix."""

    finding: Finding
    anchor: str
    service_url: str
    fix_url: str | None

    @property
    def fix_text(self) -> str:
        """The fix in words (``field=value``)."""
        return f"{self.finding.fix[0]}={self.finding.fix[1]}" if self.finding.fix else ""


def links(cluster: Cluster, findings: list[Finding]) -> list[FindingLink]:
    """Each finding with its deep link and its fix link."""
    return [
        FindingLink(f, anchor(f), service_link(cluster, f), fix_link(cluster, f)) for f in findings
    ]


class FindingFilterForm(forms.Form):
    """The findings page's filters; choices are the report's own values."""

    def __init__(self, data: Any, *, findings: Sequence[Finding]) -> None:
        super().__init__(data)
        found = findings
        choices = {
            "severity": list(SEVERITIES),
            "code": sorted({f.code for f in found}),
            "namespace": sorted({f.service.split("/", 1)[0] for f in found}),
            "source": [*SOURCES, NO_SOURCE],
        }
        for name, values in choices.items():
            self.fields[name] = forms.ChoiceField(
                required=False, choices=[("", "any")] + [(v, v) for v in values]
            )

    def filter(self, findings: Sequence[Finding]) -> list[Finding]:
        """The findings matching every chosen filter (all when the form is invalid)."""
        if not self.is_valid():
            return list(findings)
        data = self.cleaned_data
        out = []
        for f in findings:
            if data["severity"] and f.severity != data["severity"]:
                continue
            if data["code"] and f.code != data["code"]:
                continue
            if data["namespace"] and f.service.split("/", 1)[0] != data["namespace"]:
                continue
            if data["source"] and (f.source or NO_SOURCE) != data["source"]:
                continue
            out.append(f)
        return out


# --- the cost model ----------------------------------------------------------------------

_LABELS = {
    "request_rate": "Pod requests/s (to the ClusterIP)",
    "external_request_rate": "External requests/s (load balancer or NodePort)",
    "request_bytes": "Bytes per request",
    "response_bytes": "Bytes per response",
    "price_per_gb": "USD per GB across zones",
    "same_node_ms": "Latency same node (ms)",
    "same_zone_ms": "Latency same zone (ms)",
    "cross_zone_ms": "Latency across zones (ms)",
    "unknown_ms": f"Latency, {LOCALITY_LABELS[UNKNOWN]} (ms)",
}


class CostSettingsForm(forms.ModelForm):
    """The cluster-wide inputs of the cost model."""

    class Meta:
        model = CostSettings
        fields = list(SETTINGS_FIELDS)
        labels = _LABELS


class ServiceTrafficForm(forms.Form):
    """One Service's own traffic (``remove`` goes back to the cluster's defaults)."""

    service = forms.ChoiceField(label="Service")
    request_rate = forms.FloatField(min_value=0, label=_LABELS["request_rate"])
    external_request_rate = forms.FloatField(min_value=0, label=_LABELS["external_request_rate"])
    request_bytes = forms.IntegerField(min_value=0, label=_LABELS["request_bytes"])
    response_bytes = forms.IntegerField(min_value=0, label=_LABELS["response_bytes"])

    def __init__(self, *args: Any, services: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Chosen by the page's "Show" form (GET), which loads that Service's values.
        self.fields["service"] = forms.ChoiceField(
            label="Service", choices=[(s, s) for s in services], widget=forms.HiddenInput
        )


def service_traffic_initial(model: CostModel, service: str) -> dict[str, Any]:
    """The override form's values for ``service``: its traffic under ``model``."""
    traffic: Traffic = model.traffic_for(service)
    return {"service": service, **{k: getattr(traffic, k) for k in TRAFFIC_FIELDS}}


@dataclass(frozen=True)
class ServiceCost:
    """What a Service page says about its bill and the inputs behind it."""

    port_cost: float
    service_cost: float
    traffic: Traffic
    overridden: bool
    model: CostModel


def service_cost_facts(
    *, cluster: Cluster, key: str, entries: list[Entry], service_bill: float
) -> ServiceCost:
    """The Service page's cost: the shown port's (from its entries) and the Service's."""
    model = cost_inputs(cluster)
    return ServiceCost(
        port_cost=service_cost(entries),
        service_cost=service_bill,
        traffic=model.traffic_for(key),
        overridden=any(k == key for k, _ in model.services),
        model=model,
    )


__all__ = [
    "LATENCY_FIELDS",
    "PER_PAGE",
    "CostSettingsForm",
    "FindingFilterForm",
    "FindingLink",
    "ServiceCost",
    "ServiceTraffic",
    "ServiceTrafficForm",
    "links",
    "service_cost_facts",
    "service_traffic_initial",
]
