"""Forms of the what-if explorer and the services table."""
from __future__ import annotations

from typing import Any

from django import forms

from routing.engine.types import IPVS_SCHEDULERS, PROXY_MODES, SESSION_AFFINITIES, TRAFFIC_DISTRIBUTIONS, TRAFFIC_POLICIES

AS_IS = ("", "as is")
#: Nodes listed as checkboxes up to this count; a larger cluster gets a text field.
NODE_CHECKBOXES_MAX = 40


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [AS_IS, *((v, v) for v in values)]


class NodeListField(forms.Field):
    """Node names from repeated parameters or one comma/space separated field."""

    widget = forms.TextInput

    def to_python(self, value: Any) -> list[str]:
        """Split, trim and de-duplicate the node names, keeping their order."""
        values = value if isinstance(value, list) else [value or ""]
        names: list[str] = []
        for item in values:
            for name in str(item).replace(",", " ").split():
                if name not in names:
                    names.append(name)
        return names


class NodeListWidget(forms.TextInput):
    """Reads every value of a repeated GET parameter (checkboxes) or one text field."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        """Every value of the parameter (checkboxes repeat it)."""
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)


class WhatIfForm(forms.Form):
    """The explorer's controls; every field empty means "leave the cluster as it is".

    ``changes()`` turns the input into the stored Scenario JSON shape
    (``routing.models.Scenario.changes``) for the focused Service.
    """

    service = forms.CharField(max_length=510, help_text="namespace/name")
    itp = forms.ChoiceField(label="internalTrafficPolicy", choices=_choices(TRAFFIC_POLICIES), required=False)
    etp = forms.ChoiceField(label="externalTrafficPolicy", choices=_choices(TRAFFIC_POLICIES), required=False)
    td = forms.ChoiceField(label="trafficDistribution", required=False,
                           choices=[AS_IS, ("none", "none (unset)"), *((v, v) for v in TRAFFIC_DISTRIBUTIONS)])
    affinity = forms.ChoiceField(label="sessionAffinity", choices=_choices(SESSION_AFFINITIES), required=False)
    proxy_mode = forms.ChoiceField(label="kube-proxy mode", choices=_choices(PROXY_MODES), required=False)
    ipvs_scheduler = forms.ChoiceField(label="IPVS scheduler", choices=_choices(IPVS_SCHEDULERS), required=False)
    down = NodeListField(label="Nodes down", required=False, widget=NodeListWidget)
    cordon = NodeListField(label="Nodes cordoned", required=False, widget=NodeListWidget)
    drain = NodeListField(label="Nodes drained", required=False, widget=NodeListWidget)
    scale = forms.IntegerField(label="Scale to replicas", required=False, min_value=0, max_value=10000)

    def __init__(self, *args: Any, nodes: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nodes = nodes or []

    def clean(self) -> dict[str, Any]:
        """Nodes must exist; an IPVS scheduler needs ipvs mode."""
        data = super().clean()
        known = set(self.nodes)
        for name in ("down", "cordon", "drain"):
            unknown = [n for n in data.get(name) or [] if n not in known]
            if unknown:
                self.add_error(name, f"unknown node: {', '.join(unknown)}")
        if data.get("ipvs_scheduler") and data.get("proxy_mode") not in ("", "ipvs", None):
            self.add_error("ipvs_scheduler", "an IPVS scheduler only applies in ipvs mode")
        return data

    def changes(self) -> dict[str, Any]:
        """The Scenario ``changes`` JSON for the cleaned input."""
        data = self.cleaned_data
        key = data["service"]
        fields = {}
        for form_name, api_name in (("itp", "internalTrafficPolicy"), ("etp", "externalTrafficPolicy"),
                                    ("td", "trafficDistribution"), ("affinity", "sessionAffinity")):
            if data.get(form_name):
                fields[api_name] = "" if data[form_name] == "none" else data[form_name]
        changes: dict[str, Any] = {}
        if fields:
            changes["services"] = {key: fields}
        if data.get("proxy_mode"):
            changes["proxy_mode"] = data["proxy_mode"]
        if data.get("ipvs_scheduler"):
            changes["ipvs_scheduler"] = data["ipvs_scheduler"]
        for form_name, api_name in (("down", "nodes_down"), ("cordon", "nodes_cordoned"), ("drain", "nodes_drained")):
            if data.get(form_name):
                changes[api_name] = data[form_name]
        if data.get("scale") is not None:
            changes["scale"] = {key: data["scale"]}
        return changes

    @classmethod
    def initial_from_changes(cls, service: str, changes: dict[str, Any]) -> dict[str, Any]:
        """The form's GET parameters that reproduce a stored scenario's ``changes``."""
        fields = (changes.get("services") or {}).get(service, {})
        params: dict[str, Any] = {"service": service}
        for form_name, api_name in (("itp", "internalTrafficPolicy"), ("etp", "externalTrafficPolicy"),
                                    ("td", "trafficDistribution"), ("affinity", "sessionAffinity")):
            if api_name in fields:
                params[form_name] = fields[api_name] or "none"
        for name in ("proxy_mode", "ipvs_scheduler"):
            if changes.get(name):
                params[name] = changes[name]
        for form_name, api_name in (("down", "nodes_down"), ("cordon", "nodes_cordoned"), ("drain", "nodes_drained")):
            if changes.get(api_name):
                params[form_name] = list(changes[api_name])
        if service in (changes.get("scale") or {}):
            params["scale"] = changes["scale"][service]
        return params


class SaveScenarioForm(forms.Form):
    """Name (and optional description) under which to save the current what-if."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea)
