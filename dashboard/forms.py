"""Forms of the what-if explorer and the services table."""

from __future__ import annotations

from typing import Any

from django import forms

from routing.engine.types import IPVS_SCHEDULERS, PROXY_MODES
from routing.engine.whatif_fields import FIELDS, WhatIfField

AS_IS = ("", "as is")
#: The value a form sends for "remove the field" (the table's unset value is "").
UNSET = "none"
#: Query parameters of the fields that existed before the field table, kept so shared
#: links keep working; every other field's parameter is its table name.
_LEGACY_PARAMS = {
    "internalTrafficPolicy": "itp",
    "externalTrafficPolicy": "etp",
    "trafficDistribution": "td",
    "sessionAffinity": "affinity",
}


def param_of(spec: WhatIfField) -> str:
    """The query parameter (form field name) of a what-if field."""
    return _LEGACY_PARAMS.get(spec.name) or spec.name.replace(".", "_")


#: form field name -> what-if field, in table order.
SERVICE_PARAMS: dict[str, WhatIfField] = {param_of(f): f for f in FIELDS}


def whatif_form_field(spec: WhatIfField) -> forms.Field:
    """The form control of one what-if field table row ("as is" = leave it)."""
    if spec.kind is int:
        return forms.IntegerField(
            label=spec.name,
            required=False,
            min_value=spec.minimum,
            max_value=spec.maximum,
            help_text=spec.help,
        )
    unset = [(UNSET, "none (unset)")] if spec.unset is not None else []
    return forms.ChoiceField(
        label=spec.name,
        required=False,
        help_text=spec.help,
        choices=[AS_IS, *unset, *((v, v) for v in spec.values)],
    )


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
    # One control per row of the field table, added in __init__ (SERVICE_PARAMS).
    proxy_mode = forms.ChoiceField(
        label="kube-proxy mode", choices=_choices(PROXY_MODES), required=False
    )
    ipvs_scheduler = forms.ChoiceField(
        label="IPVS scheduler", choices=_choices(IPVS_SCHEDULERS), required=False
    )
    down = NodeListField(label="Nodes down", required=False, widget=NodeListWidget)
    cordon = NodeListField(label="Nodes cordoned", required=False, widget=NodeListWidget)
    drain = NodeListField(label="Nodes drained", required=False, widget=NodeListWidget)
    scale = forms.IntegerField(
        label="Scale to replicas", required=False, min_value=0, max_value=10000
    )

    def __init__(self, *args: Any, nodes: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nodes = nodes or []
        controls = {param: whatif_form_field(spec) for param, spec in SERVICE_PARAMS.items()}
        # Service fields right after "service", as the explorer lays them out.
        rest = [(k, v) for k, v in self.fields.items() if k != "service"]
        self.fields = {"service": self.fields["service"], **controls, **dict(rest)}

    def service_field_controls(self) -> list[forms.BoundField]:
        """The bound controls of the Service fields (the explorer's first fieldset)."""
        return [self[param] for param in SERVICE_PARAMS]

    def clean(self) -> dict[str, Any]:
        """Nodes must exist; an IPVS scheduler needs ipvs mode."""
        data = super().clean()
        assert data is not None  # Form.clean() returns cleaned_data
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
        fields: dict[str, Any] = {}
        for param, spec in SERVICE_PARAMS.items():
            value = data.get(param)
            if value not in (None, ""):
                fields[spec.name] = (
                    spec.unset if value == UNSET and spec.unset is not None else value
                )
        changes: dict[str, Any] = {}
        if fields:
            changes["services"] = {key: fields}
        if data.get("proxy_mode"):
            changes["proxy_mode"] = data["proxy_mode"]
        if data.get("ipvs_scheduler"):
            changes["ipvs_scheduler"] = data["ipvs_scheduler"]
        for form_name, api_name in (
            ("down", "nodes_down"),
            ("cordon", "nodes_cordoned"),
            ("drain", "nodes_drained"),
        ):
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
        for param, spec in SERVICE_PARAMS.items():
            if spec.name in fields:
                value = fields[spec.name]
                params[param] = UNSET if spec.unset is not None and value == spec.unset else value
        for name in ("proxy_mode", "ipvs_scheduler"):
            if changes.get(name):
                params[name] = changes[name]
        for form_name, api_name in (
            ("down", "nodes_down"),
            ("cordon", "nodes_cordoned"),
            ("drain", "nodes_drained"),
        ):
            if changes.get(api_name):
                params[form_name] = list(changes[api_name])
        if service in (changes.get("scale") or {}):
            params["scale"] = changes["scale"][service]
        return params


class SaveScenarioForm(forms.Form):
    """Name (and optional description) under which to save the current what-if."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea)
