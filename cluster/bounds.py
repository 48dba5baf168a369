"""Bounds on what a decoded dump may hold, and the walk that enforces them.

Pure (no Django, no YAML). :mod:`cluster.kube_dump` decodes JSON and YAML with hooks that
replace what must never be built in full (a 5,000-digit integer, a YAML alias) by a
:class:`Refused` marker, then :func:`check_value` walks each object once and reports the
first thing out of bounds with its path ("spec.ports[0].port"). Every bound is a Django
setting (``ROUTESCOPE_DUMP_MAX_*``, see ``cluster.dump_limits``) passed down as a
:class:`Limits`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

#: The longest value quoted in an error message; longer ones are cut (a 1 MB name must
#: not make a 1 MB error line).
QUOTE_CHARS = 60


@dataclass(frozen=True)
class Limits:
    """Upper bounds on one dump (the defaults are the settings' defaults)."""

    #: Mappings and lists nested inside one object (real objects stay under 30).
    max_depth: int = 100
    #: Characters of one string or key: etcd refuses objects over 1.5 MiB.
    max_string: int = 1_572_864
    #: Characters of one number as written: int64 needs 20, a float 24.
    max_number: int = 32
    #: Kubernetes objects in one dump.
    max_objects: int = 2_000_000
    #: Values (strings, numbers, mappings, lists...) in all objects of one dump together.
    max_values: int = 100_000_000
    #: A gzip dump may decompress to this many times its size (kubectl's JSON: 10-20)...
    max_gzip_ratio: int = 100
    #: ... once past this many bytes.
    gzip_allowance: int = 64 * 1024**2


DEFAULT_LIMITS = Limits()


class Refused:
    """Stands in for a value the decoder would not build; ``why`` says what it was."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Refused({self.why!r})"


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters, saying how long it was."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit + 2 else f"{text[:limit]}..."


def number(text: str, limits: Limits, convert: type) -> Any:
    """``convert(text)`` unless ``text`` is longer than ``limits.max_number``.

    Python refuses integers over 4,300 digits with a ValueError, and converts shorter
    ones in quadratic time: a long number is refused before conversion.
    """
    if len(text) > limits.max_number:
        return Refused(
            f"is a number {len(text):,} characters long (the limit is" f" {limits.max_number})"
        )
    try:
        return convert(text)
    except ValueError:  # YAML forms such as "0x" that int() does not take
        return Refused(f"is not a number: {quote(text)}")


def not_a_number(text: str) -> Refused:
    """JSON's ``NaN`` and ``Infinity``, which no Kubernetes field holds."""
    return Refused(f"is {text}, not a finite number")


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _text_problem(value: str, limits: Limits) -> str | None:
    if len(value) > limits.max_string:
        return f"is a string of {len(value):,} characters (the limit is {limits.max_string:,})"
    if "\x00" in value:
        return "holds a NUL character (\\u0000), which cannot be stored"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (
                f"holds a lone surrogate (\\u{ord(value[exc.start]):04x} at character"
                f" {exc.start}), which is not text"
            )
    return None


def _scalar_problem(value: Any, limits: Limits) -> str | None:
    kind = type(value)
    if kind is str:
        return _text_problem(value, limits)
    if kind is bool or value is None:
        return None
    if kind is int:  # only a value decoded elsewhere (the API's request body) can be this long
        if -(10**limits.max_number) < value < 10**limits.max_number:
            return None
        return f"is a number of more than {limits.max_number} digits (the limit)"
    if kind is float:
        return None if math.isfinite(value) else f"is {value}, not a finite number"
    if kind is Refused:
        return value.why
    if kind is bytes:
        return "is binary data (YAML !!binary), which a JSON dump cannot hold"
    return f"is a {kind.__name__} (a YAML tag JSON has no type for)"


def _key_problem(key: Any, limits: Limits) -> str | None:
    if type(key) is str:
        return _text_problem(key, limits)
    if isinstance(key, (int, float, bool)) or key is None:
        return _scalar_problem(key, limits)  # YAML 1.1 reads `80:` or `on:` as such
    return f"is a {type(key).__name__} used as a mapping key"


def check_value(
    root: Any, limits: Limits, budget: list[int], *, plain: bool = False
) -> tuple[str, str] | None:
    """The first ``(path, problem)`` inside ``root``, or None when all is within bounds.

    ``budget`` is a one-item list holding the values still allowed in this dump; each
    call takes its values from it (the count bound spans the whole dump). The common case
    (all good) is one pass without paths; only a failure is walked again to name the path.
    ``plain`` says that ``root`` came from JSON text with no ``\\u0000`` or surrogate
    escape and with bounded numbers, so only lengths, depth and counts need checking.
    """
    if (_fast_plain_ok if plain else _fast_ok)(root, limits, budget):
        return None
    if budget[0] < 0:
        return "", (
            f"the dump holds more than {limits.max_values:,} values (the limit;"
            " ROUTESCOPE_DUMP_MAX_VALUES)"
        )
    return _locate(root, limits) or ("", "is out of bounds")


def _fast_ok(root: Any, limits: Limits, budget: list[int]) -> bool:
    if type(root) is not dict and type(root) is not list:
        return _scalar_problem(root, limits) is None
    max_depth, max_string = limits.max_depth, limits.max_string
    top, bottom = 10**limits.max_number, -(10**limits.max_number)
    stack: list[tuple[Any, int]] = [(root, 1)]
    count = 0
    while stack:
        container, depth = stack.pop()
        if depth > max_depth:
            return False
        count += len(container)
        if type(container) is dict:
            for key in container:
                if (
                    type(key) is not str
                    or len(key) > max_string
                    or not key.isascii()
                    or "\x00" in key
                ) and _key_problem(key, limits):
                    return False
            values = container.values()
        else:
            values = container
        for value in values:
            kind = type(value)
            if kind is str:
                if (
                    len(value) > max_string
                    or "\x00" in value
                    or (not value.isascii() and _text_problem(value, limits))
                ):
                    return False
            elif kind is dict or kind is list:
                stack.append((value, depth + 1))
            elif kind is int:
                if not bottom < value < top:
                    return False
            elif kind is bool or value is None:
                continue
            elif _scalar_problem(value, limits):
                return False
    budget[0] -= count
    return budget[0] >= 0


def _fast_plain_ok(root: Any, limits: Limits, budget: list[int]) -> bool:
    """:func:`_fast_ok` for decoded JSON text that held no NUL or surrogate escape: every
    key is a string, no string can hold NUL or a surrogate, numbers were bounded when
    decoded; what is left is depth, lengths, counts and the decoder's Refused markers."""
    if type(root) is not dict and type(root) is not list:
        return _scalar_problem(root, limits) is None
    max_depth, max_string = limits.max_depth, limits.max_string
    stack: list[tuple[Any, int]] = [(root, 1)]
    count = 0
    while stack:
        container, depth = stack.pop()
        if depth > max_depth:
            return False
        count += len(container)
        if type(container) is dict:
            if container and max(map(len, container)) > max_string:
                return False
            values = container.values()
        else:
            values = container
        for value in values:
            kind = type(value)
            if kind is str:
                if len(value) > max_string:
                    return False
            elif kind is dict or kind is list:
                stack.append((value, depth + 1))
            elif kind is Refused or (kind is float and not math.isfinite(value)):
                return False
    budget[0] -= count
    return budget[0] >= 0


def _step(path: str, key: Any) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{path}[{key}]"
    if isinstance(key, str) and _KEY.fullmatch(key) and len(key) <= QUOTE_CHARS:
        return f"{path}.{key}" if path else key
    return f"{path}[{quote(key)}]"


def _locate(root: Any, limits: Limits) -> tuple[str, str] | None:
    stack: list[tuple[Any, str, int]] = [(root, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if type(value) is dict or type(value) is list:
            if depth >= limits.max_depth:
                return path, f"nests more than {limits.max_depth} levels deep (the limit)"
            if type(value) is dict:
                for key in value:
                    problem = _key_problem(key, limits)
                    if problem:
                        return _step(path, key), f"key {problem}"
                pairs = list(value.items())
            else:
                pairs = list(enumerate(value))
            for key, child in reversed(pairs):
                stack.append((child, _step(path, key), depth + 1))
            continue
        problem = _scalar_problem(value, limits)
        if problem:
            return path, problem
    return None
