"""The fast way through a JSON dump: split and decoded by msgspec (C), memory bounded.

Pure (no Django). :mod:`cluster.kube_dump` tries :func:`fast_documents` first on JSON text;
it answers None whenever the bytes hold anything whose exact refusal only the standard
library reader words (a long or 64-bit-overflowing number, a ``\\u0000`` or surrogate
escape, ``NaN``, a BOM, invalid JSON, several documents in a row...), and the caller then
reads the dump the exact, slower way. A dump this path accepts is decoded once, its
elements checked one at a time (:func:`cluster.kube_dump._check_element`) as they are
decoded, with the cyclic garbage collector paused (the decoded objects hold no cycles, and
collections over an ever larger heap would otherwise cost more than the decoding).

:class:`Retention` bounds what a refused dump costs: decoded objects take some six times
their text, so once the decoded elements have grown the process by twice the input size
(plus an allowance), later elements are checked and dropped, and decoded again only when the
whole dump has passed. A dump whose last field is bad is refused holding at most its bytes,
that bounded share of decoded elements, and one element.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from cluster.bounds import Limits
from cluster.child import Child

#: Re-measure the process's size after this many bytes of elements.
_MEASURE_EVERY = 1024**2
#: The split elements and the decoded ones kept may grow the process by this much beyond
#: twice the input size (the input itself is held too: three times plus 80 MB in all).
_ALLOWANCE = 80 * 1024**2
#: What msgspec's split costs per element (a ``Raw`` and its list slot), a little over.
_RAW_BYTES = 72
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

#: Escapes that can decode to NUL or a lone surrogate (only the exact reader words them).
#: A superset, searched in one pass (an alternation would cost more than the decoding).
_SUSPECT_ESCAPE = re.compile(rb"\\u[0dD][089a-fA-F]")

#: ``check(element, where, walk)``; ``walk`` False when the element's text shows it
#: within the depth and length bounds, so only its shape needs checking.
#: Plain Python values (dicts, lists, str, int, float, bool, None) from JSON bytes.
_decode_json = msgspec.json.Decoder().decode

Check = Callable[[Any, str, bool], None]
#: ``settle(obj, index)``: the caller's own checks of one object, run on an element before it is
#: let go (raises to refuse the dump).
Settle = Callable[[dict[str, Any], int], None]
#: Bytes that can be part of a JSON number.
_NUMBER_BYTES = b"-+0123456789.eE"
_AS_DIGITS = bytes(0x31 if chr(b).encode() in _NUMBER_BYTES else 0x20 for b in range(256))


def _resident() -> int | None:
    """This process's resident set in bytes (None where /proc is not there)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class Retention:
    """Decides, element by element, whether a decoded element may be kept now or must be
    dropped after its check and decoded again once the whole dump has passed."""

    def __init__(self, size: int, *, copies: int = 1) -> None:
        """``size``: the input's bytes; ``copies``: how many copies of it the reader holds
        (the exact reader holds the bytes and the decoded text)."""
        self.start, self.size = _resident(), size
        self.limit = limit(size) - (copies - 1) * size
        self.keeping = self.start is not None
        self.unmeasured = 0

    def keep(self, nbytes: int) -> bool:
        if not self.keeping:
            return self.start is None  # no /proc: nothing to measure, keep everything
        self.unmeasured += nbytes
        if self.unmeasured >= _MEASURE_EVERY:
            self.unmeasured = 0
            now = _resident()
            assert self.start is not None
            if now is not None and now - self.start > self.limit:
                self.keeping = False
        return self.keeping


def limit(size: int) -> int:
    """How far the elements of a ``size``-byte dump may grow the process before later ones
    are dropped after their check."""
    return 2 * size + _ALLOWANCE


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic GC off for the block (restored as it was)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _long_number(data: bytes, limits: Limits) -> bool:
    """A superset of the numbers the exact reader treats specially: a run of number bytes
    longer than the limit, or long enough to be an integer past 64 bits (msgspec and the
    standard library could disagree on those). One ``translate`` and one substring
    search: no regex backtracking."""
    run = min(19, limits.max_number + 1)
    return b"1" * run in data.translate(_AS_DIGITS)


def fast_documents(
    data: bytes, limits: Limits, check: Check, settle: Settle | None = None
) -> list[Any] | None:
    """The one JSON document in ``data`` with every element checked by ``check(element,
    where)``, or None when the exact reader must decide (see the module's docstring).

    The answer is a one-item list (the document); a List's ``items`` and a bare array's
    elements are checked one at a time, anything else whole, with the same ``where``
    wording as the exact reader ("top level, items[3]", "top level, item 3").
    """
    head = data.lstrip(b" \t\r\n")[:1]
    if head not in (b"{", b"[") or data.startswith(b"\xef\xbb\xbf"):
        return None
    # Every element is split out before any is checked: the split must fit the bound
    # whatever the elements are (three million "[]" would cost 25 times their bytes).
    # An element is at least a comma apart from the next, so this bounds their count.
    if _RAW_BYTES * (data.count(b",") + 1) > limit(len(data)):
        return None
    # (NaN and Infinity need no search: msgspec refuses them, and the exact
    # reader then words the refusal.)
    if _SUSPECT_ESCAPE.search(data) or _long_number(data, limits):
        return None
    try:
        with collector_paused():
            return _decode(data, head, limits, check, settle)
    except (msgspec.MsgspecError, RecursionError, UnicodeDecodeError):
        return None


def _decode(
    data: bytes, head: bytes, limits: Limits, check: Check, settle: Settle | None
) -> list[Any]:
    retention = Retention(len(data))  # from before the split: its cost counts too
    if head == b"[":
        elements = msgspec.json.decode(data, type=list[msgspec.Raw])
        return [
            _elements(elements, retention, lambda i: f"top level, item {i}", check, limits, settle)
        ]
    fields = msgspec.json.decode(data, type=dict[str, msgspec.Raw])
    items = fields.get("items")
    if items is None or bytes(memoryview(items)[:1]) != b"[":
        document = _decode_json(data)
        check(document, "top level", True)
        return [document]
    # As the exact reader does: an "items" array is checked element by element, and
    # the whole object too unless it is a List.
    order = list(fields)
    document = {k: _decode_json(memoryview(v)) for k, v in fields.items() if k != "items"}
    elements = msgspec.json.decode(items, type=list[msgspec.Raw])
    del fields, items
    document["items"] = _elements(
        elements, retention, lambda i: f"top level, items[{i}]", check, limits, settle
    )
    document = {key: document[key] for key in order}
    if not _is_list(document):
        check(document, "top level", True)
    return [document]


def _is_list(document: dict[str, Any]) -> bool:
    # cluster.kube_dump._is_list, knowing that "items" is a list.
    kind = document.get("kind")
    return kind is None or (isinstance(kind, str) and kind.endswith("List"))


def _needs_walk(view: memoryview, limits: Limits) -> bool:
    """False when the element's text alone shows it within the bounds: no string or key
    longer than the text, nesting no deeper than the limit (see :func:`_depth`), and
    (checked once for the whole dump by the caller) no more values than the dump has
    bytes."""
    if len(view) <= limits.max_string:
        raw = bytes(view)
        if raw.count(b"{") + raw.count(b"[") <= limits.max_depth:
            return False
        return _depth(raw, limits.max_depth) > limits.max_depth
    return True


#: Brackets as parentheses (``bytes.translate``: everything else deleted).
_PARENS = bytes.maketrans(b"{[}]", b"(())")
_NOT_MARKS = bytes(b for b in range(256) if b not in b'{[}]"')


def _depth(raw: bytes, most: int) -> int:
    """How deep ``raw`` (one JSON value's text) nests, or ``most + 1`` once past ``most``
    (or when an escaped quote makes the strings' extent unclear: the caller then walks
    the decoded value). In C: quotes and brackets kept, what lies between quotes
    (strings) dropped, the brackets as parentheses, innermost pairs removed one level at a
    time."""
    if b'\\"' in raw:
        return most + 1
    marks = raw.translate(None, _NOT_MARKS)  # quotes and brackets only: a short string
    brackets = b"".join(marks.split(b'"')[::2]).translate(_PARENS)
    depth = 0
    while brackets:
        depth += 1
        if depth > most:
            break
        shorter = brackets.replace(b"()", b"")
        if len(shorter) == len(brackets):  # unbalanced (cannot be, as decoded): walk
            return most + 1
        brackets = shorter
    return depth


def _elements(
    raws: list[msgspec.Raw],
    retention: Retention,
    where: Callable[[int], str],
    check: Check,
    limits: Limits,
    settle: Settle | None = None,
) -> list[Any]:
    out: list[Any] = []
    dropped: list[int] = []
    # Every value counted (a mapping's pair, a list's element) takes at least two bytes,
    # itself and a comma or closing bracket: a dump under twice the count bound is within it.
    always = retention.size > 2 * limits.max_values
    aside = _Aside.start(raws, where, check, limits, settle) if not always else None
    end = aside.split if aside is not None else len(raws)
    try:
        flat = _pass(raws, 0, end, out, dropped, retention, where, check, limits, settle, always)
        settled = aside.verdict() if aside is not None and flat else None
    finally:
        if aside is not None:
            aside.close()
    if end < len(raws):
        if settled is None:  # no word from the child (or a nested List before its part)
            _pass(
                raws,
                end,
                len(raws),
                out,
                dropped,
                retention,
                where,
                check,
                limits,
                settle,
                flat=flat,
            )
        else:  # the child checked and settled them all: decoded again below, like the dropped
            out.extend([None] * (len(raws) - end))
            dropped.extend(range(end, len(raws)))
    for index in dropped:  # the whole dump passed: decode what was let go again
        out[index] = _decode_json(memoryview(raws[index]))
    record = getattr(settle, "record", None)
    if settled is not None and record is not None:
        for index in range(end, settled):
            record(out[index], index)
    return out


def _pass(
    raws: list[msgspec.Raw],
    start: int,
    end: int,
    out: list[Any],
    dropped: list[int],
    retention: Retention | None,
    where: Callable[[int], str],
    check: Check,
    limits: Limits,
    settle: Settle | None,
    always: bool = False,
    flat: bool = True,
) -> bool:
    """Check elements ``start``..``end`` in order, keeping what ``retention`` lets keep
    (None: nothing); True while no element was a nested List (``flat``)."""
    for index in range(start, end):
        view = memoryview(raws[index])
        element = _decode_json(view)
        check(element, where(index), always or _needs_walk(view, limits))
        if retention is not None and retention.keep(len(view)):
            out.append(element)
        else:
            # Let go of it only once it passed the caller's own per-object checks too, so
            # a dump refused for its last object is refused within the bound as well.
            # (An element's index is its object's number while no earlier element was a
            # nested List, which the reader flattens into several objects.)
            if settle is not None and flat and isinstance(element, dict):
                settle(element, index)
            out.append(None)
            dropped.append(index)
        flat = flat and isinstance(element, dict) and not _is_list(element)
        del element
    return flat


#: From this many elements the later ones are checked by a child (``Settle.fork``).
_ASIDE_MIN = 20_000
#: The child's share of the elements, by bytes: it settles each (about as much again as
#: decoding it), while this process keeps what it can and decodes what it let go again.
_ASIDE_SHARE = 0.4


class _Aside:
    """The dump's later elements checked and settled in an ``os.fork`` child while this
    process checks the earlier ones (memory: the child holds one element at a time).

    Only when the caller's ``settle`` says ``fork`` and can ``record`` an object the child
    settled (its own notes stay in the child). The child answers how many of its elements
    it settled (all, unless one was a nested List) or its refusal; its elements are then
    decoded again here, as dropped ones are. A refusal from this process's part comes
    first, as in order; a child that fails otherwise leaves its part to this process."""

    def __init__(self, split: int, child: Child) -> None:
        self.split, self.child = split, child

    @classmethod
    def start(
        cls,
        raws: list[msgspec.Raw],
        where: Callable[[int], str],
        check: Check,
        limits: Limits,
        settle: Settle | None,
    ) -> _Aside | None:
        if (
            settle is None
            or not getattr(settle, "fork", False)
            or not hasattr(settle, "record")
            or len(raws) < _ASIDE_MIN
        ):
            return None
        sizes = [len(raw) for raw in raws]
        target, total, split = sum(sizes) * (1 - _ASIDE_SHARE), 0, len(raws)
        for index, size in enumerate(sizes):
            total += size
            if total >= target:
                split = index + 1
                break
        if split >= len(raws):
            return None

        def settle_theirs() -> int | None:  # in the child: check and settle raws[split:]
            ignored: list[Any] = []
            flat = _pass(raws, split, len(raws), [], ignored, None, where, check, limits, settle)
            return len(raws) if flat else None

        return cls(split, Child.start(settle_theirs))

    def verdict(self) -> int | None:
        """The end of the settled run of the child's elements (None: unknown, check them
        here); raises the child's refusal."""
        outcome = self.child.outcome()
        if outcome is None:
            return None
        answered, answer = outcome
        if not answered:
            raise answer
        return answer if isinstance(answer, int) else None

    def close(self) -> None:
        """Ends a child whose answer is no longer wanted (this process refused first)."""
        self.child.close()
