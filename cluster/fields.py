"""Typed reads from Kubernetes object dicts, failing with one line naming object and field.

Pure (no Django): the parsers in ``cluster.parsing`` use these so that every bad field in
a dump is reported the same way, e.g.
``Service shop/web: spec.ports[0].port must be an integer, got a string``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from cluster.kube_dump import DumpError


class ObjectError(DumpError):
    """A Kubernetes object with a missing or malformed field (one line: object, field)."""


def type_name(value: Any) -> str:
    """A short English name of ``value``'s JSON type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# Dotted-quad IPv4 without leading zeros: checked by a regex, ten times faster than
# ipaddress on the 300,000 addresses of a large cluster; everything else goes to ipaddress.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")

_EXPECTED = {
    str: "a string",
    int: "an integer",
    bool: "a boolean",
    list: "a list",
    dict: "a mapping",
}


class Reader:
    """Reads fields of one object; ``label`` names it in errors ("Service shop/web")."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, message: str) -> ObjectError:
        """An :class:`ObjectError` about this object."""
        return ObjectError(f"{self.label}: {message}")

    def get(
        self,
        data: Any,
        key: str,
        expected: type,
        *,
        path: str,
        default: Any = None,
        required: bool = False,
    ) -> Any:
        """``data[key]`` checked to be of type ``expected`` (bool is never an int).

        A missing key or a JSON null gives ``default``, or an error when ``required``.
        ``path`` is the field's full dotted name for the message.
        """
        value = data.get(key) if isinstance(data, dict) else None
        if value is None:
            if required:
                raise self.fail(f"missing {path}")
            return default
        if type(value) is expected:  # the common case, decided without isinstance chains
            return value
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise self.fail(f"{path} must be {_EXPECTED[expected]}, got {type_name(value)}")
        return value

    def mapping(self, data: Any, key: str, *, path: str, required: bool = False) -> dict:
        """A nested mapping (``{}`` when absent)."""
        return self.get(data, key, dict, path=path, default={}, required=required)

    def items(self, data: Any, key: str, *, path: str) -> list:
        """A list field (``[]`` when absent)."""
        return self.get(data, key, list, path=path, default=[])

    def string_map(self, data: Any, key: str, *, path: str) -> dict[str, str]:
        """A ``map[string]string`` such as labels, annotations or a selector."""
        value = self.mapping(data, key, path=path)
        for k, v in value.items():
            if not isinstance(v, str):
                raise self.fail(f"{path}.{k} must be a string, got {type_name(v)}")
        return value

    def strings(self, data: Any, key: str, *, path: str) -> list[str]:
        """A ``[]string`` field."""
        value = self.items(data, key, path=path)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{path}[{index}] must be a string, got {type_name(item)}")
        return value

    def ip(self, value: str, *, path: str, family: int | None = None) -> str:
        """``value`` checked to be an IP address (of ``family`` 4 or 6 when given)."""
        if family != 6 and _IPV4.fullmatch(value):
            return value
        try:
            parsed = ipaddress.ip_address(value)
        except ValueError:
            raise self.fail(f"{path} {value!r} is not an IP address") from None
        if family is not None and parsed.version != family:
            raise self.fail(f"{path} {value!r} is not an IPv{family} address")
        return value

    def cidr(self, value: str, *, path: str) -> str:
        """``value`` checked to be a CIDR such as ``10.244.0.0/24``."""
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise self.fail(f"{path} {value!r} is not a CIDR") from None
        return value

    def port(self, data: Any, key: str, *, path: str, required: bool = False) -> int | None:
        """A port number 1..65535 (None when absent and not required)."""
        value = self.get(data, key, int, path=path, required=required)
        if value is not None and not 0 < value < 65536:
            raise self.fail(f"{path} {value} is not a port number (1-65535)")
        return value

    def choice(self, data: Any, key: str, choices: tuple[str, ...], *, path: str) -> str:
        """A string that must be one of ``choices`` ("" when absent)."""
        value = self.get(data, key, str, path=path, default="")
        if value and value not in choices:
            raise self.fail(f"{path} {value!r} is not one of {', '.join(choices)}")
        return value
