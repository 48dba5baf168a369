"""The API server's own rules for names, label keys and values (pure, no Django).

Each ``check_*`` returns None for a value the API server accepts, else a phrase saying
why not. The rules and their wording follow upstream:
``k8s.io/apimachinery/pkg/util/validation/validation.go`` (IsDNS1123Label,
IsDNS1123Subdomain, IsDNS1035Label, IsQualifiedName, IsValidLabelValue, IsValidPortName) and
``pkg/apis/core/validation/validation.go`` (ValidateServiceName = NameIsDNS1035Label;
ValidateNodeName, ValidatePodName, ValidateConfigMapName = NameIsDNSSubdomain;
ValidateNamespaceName = a DNS-1123 label); EndpointSlice names are DNS subdomains
(``pkg/apis/discovery/validation``: ValidateEndpointSliceName).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_LABEL_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

LABEL_MAX = 63
SUBDOMAIN_MAX = 253
#: TotalAnnotationSizeLimitB in apimachinery's ObjectMeta validation.
ANNOTATIONS_MAX_BYTES = 256 * 1024


def check_dns1123_label(value: str) -> str | None:
    """IsDNS1123Label: a namespace, a Service port name."""
    if len(value) > LABEL_MAX:
        return f"must be no more than {LABEL_MAX} characters"
    if not _LABEL_1123.fullmatch(value):
        return (
            "must be a lowercase RFC 1123 label: lowercase letters, digits or '-',"
            " starting and ending with a letter or digit"
        )
    return None


def check_dns1123_subdomain(value: str) -> str | None:
    """IsDNS1123Subdomain: Node, Pod, EndpointSlice and ConfigMap names."""
    if len(value) > SUBDOMAIN_MAX:
        return f"must be no more than {SUBDOMAIN_MAX} characters"
    if not _SUBDOMAIN_1123.fullmatch(value):
        return (
            "must be a lowercase RFC 1123 subdomain: lowercase letters, digits, '-' or"
            " '.', starting and ending with a letter or digit"
        )
    return None


def check_dns1035_label(value: str) -> str | None:
    """IsDNS1035Label: Service names."""
    if len(value) > LABEL_MAX:
        return f"must be no more than {LABEL_MAX} characters"
    if not _LABEL_1035.fullmatch(value):
        return (
            "must be a DNS-1035 label: lowercase letters, digits or '-', starting with"
            " a letter and ending with a letter or digit"
        )
    return None


def check_qualified_name(value: str) -> str | None:
    """IsQualifiedName: label and annotation keys ("example.com/name" or "name")."""
    parts = value.split("/")
    if len(parts) > 2:
        return (
            "must be a name with an optional DNS subdomain prefix and '/' (e.g. 'example.com/name')"
        )
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            return "has an empty prefix before '/'"
        problem = check_dns1123_subdomain(parts[0])
        if problem:
            return f"prefix {problem}"
    if not name:
        return "has an empty name part"
    if len(name) > LABEL_MAX:
        return f"name part must be no more than {LABEL_MAX} characters"
    if not _QUALIFIED_NAME.fullmatch(name):
        return (
            "name part must be letters, digits, '-', '_' or '.', starting and ending"
            " with a letter or digit"
        )
    return None


def check_label_value(value: str) -> str | None:
    """IsValidLabelValue: empty, or up to 63 letters, digits, '-', '_', '.'."""
    if len(value) > LABEL_MAX:
        return f"must be no more than {LABEL_MAX} characters"
    if not _LABEL_VALUE.fullmatch(value):
        return (
            "must be empty or letters, digits, '-', '_' or '.', starting and ending"
            " with a letter or digit"
        )
    return None


_PORT_NAME = re.compile(r"[-a-z0-9]+")


def check_port_name(value: str) -> str | None:
    """IsValidPortName (an IANA_SVC_NAME): container port names, a Service's named targetPort."""
    if len(value) > 15:
        return "must be no more than 15 characters"
    if not _PORT_NAME.fullmatch(value):
        return "must contain only lowercase letters, digits and '-'"
    if not re.search("[a-z]", value):
        return "must contain at least one letter"
    if "--" in value:
        return "must not contain consecutive hyphens (--)"
    if value.startswith("-") or value.endswith("-"):
        return "must not begin or end with a hyphen"
    return None


#: The name rule of each kind Routescope stores.
NAME_RULES: dict[str, tuple[Callable[[str], str | None], str]] = {
    "Service": (check_dns1035_label, "DNS-1035 label"),
    "Node": (check_dns1123_subdomain, "DNS subdomain"),
    "Pod": (check_dns1123_subdomain, "DNS subdomain"),
    "EndpointSlice": (check_dns1123_subdomain, "DNS subdomain"),
    "ConfigMap": (check_dns1123_subdomain, "DNS subdomain"),
}
