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
import operator
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, cast

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

    @property
    def dropping(self) -> bool:
        """True once later elements are let go (never where nothing can be measured)."""
        return not self.keeping and self.start is not None

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
    try:
        with collector_paused():
            return _decode(data, head, limits, check, settle, _Scans(data, limits))
    except (msgspec.MsgspecError, RecursionError, UnicodeDecodeError, _Exact):
        return None


class _Exact(Exception):
    """The exact reader must read this input (:class:`_Scans` found what only it words)."""


#: The Pod child's first answer when :class:`_Scans` found something.
_EXACT = "the exact reader"


class _Scans:
    """The two searches of the whole input for what only the exact reader words: a
    suspect escape and a long number (NaN and Infinity need none: msgspec refuses them,
    and the exact reader then words the refusal). About a quarter of a second for 100 MB,
    so a Pod child, when one reads the elements, runs them first (off this process's
    path); else :meth:`check` runs them here, before any element is checked."""

    def __init__(self, data: bytes, limits: Limits) -> None:
        self.data, self.limits = data, limits

    def found(self) -> bool:
        return bool(_SUSPECT_ESCAPE.search(self.data)) or _long_number(self.data, self.limits)

    def check(self) -> None:
        """Raises :class:`_Exact` when :meth:`found`."""
        if self.found():
            raise _Exact


def _decode(
    data: bytes,
    head: bytes,
    limits: Limits,
    check: Check,
    settle: Settle | None,
    scans: _Scans,
) -> list[Any]:
    retention = Retention(len(data))  # from before the split: its cost counts too
    if head == b"[":
        elements = msgspec.json.decode(data, type=list[msgspec.Raw])
        return [
            _elements(
                elements, retention, lambda i: f"top level, item {i}", check, limits, settle, scans
            )
        ]
    try:  # the common List (these four keys at most): its items found in one pass
        common = _decode_list(data)
    except msgspec.ValidationError:  # other keys, or items no array: the general way
        common = None
    if common is not None:
        document = {
            key: _decode_json(value)
            for key, value in (
                ("apiVersion", common.api_version),
                ("kind", common.kind),
                ("metadata", common.metadata),
            )
            if value is not msgspec.UNSET
        }
        if _is_list(document):
            elements = common.items
            del common
            document["items"] = _elements(
                elements,
                retention,
                lambda i: f"top level, items[{i}]",
                check,
                limits,
                settle,
                scans,
            )
            return [document]
        del common, document  # an object with items, checked whole: its keys in order
    fields = msgspec.json.decode(data, type=dict[str, msgspec.Raw])
    items = fields.get("items")
    if items is None or bytes(memoryview(items)[:1]) != b"[":
        scans.check()
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
        elements, retention, lambda i: f"top level, items[{i}]", check, limits, settle, scans
    )
    document = {key: document[key] for key in order}
    if not _is_list(document):
        check(document, "top level", True)
    return [document]


class _List(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A List document with no other keys than these (any other: a ValidationError)."""

    items: list[msgspec.Raw]
    api_version: msgspec.Raw | msgspec.UnsetType = msgspec.field(
        default=msgspec.UNSET, name="apiVersion"
    )
    kind: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    metadata: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


_decode_list = msgspec.json.Decoder(_List).decode


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
    settle: Settle | None,
    scans: _Scans,
) -> list[Any]:
    out: list[Any] = []
    dropped: list[int] = []
    # Every value counted (a mapping's pair, a list's element) takes at least two bytes,
    # itself and a comma or closing bracket: a dump under twice the count bound is within it.
    always = retention.size > 2 * limits.max_values
    aside = _Aside.start(raws, where, check, limits, settle, scans) if not always else None
    if aside is None:
        scans.check()
        _pass(raws, 0, len(raws), out, dropped, retention, where, check, limits, settle, always)
    else:
        try:
            aside.read(raws, out, dropped, retention, where, check, limits)
        except BaseException:
            aside.close()
            raise
    kept = False
    try:
        if aside is not None and aside.whole is not None:
            aside.child.go()  # the child checks the dump as a whole meanwhile
        for index in dropped:  # the whole dump passed: decode what was let go again
            out[index] = _decode_json(memoryview(raws[index]))
        if aside is not None:
            aside.record(out)
            if aside.whole is not None:
                aside.out = out
                aside.whole(aside)  # the caller asks for its verdict (and closes it)
                kept = True
    finally:
        if aside is not None and not kept:
            aside.close()
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


#: From this many elements a child checks the Pods (``Settle.fork``).
_ASIDE_MIN = 20_000


class _Head(msgspec.Struct, gc=False):
    """An element's kind and apiVersion (its other fields skipped by msgspec, in C)."""

    kind: Any = None
    api_version: Any = msgspec.field(default=None, name="apiVersion")


_decode_head = msgspec.json.Decoder(_Head).decode


def _pod_text(view: memoryview) -> bool:
    """True when the element's text is a v1 Pod (as :func:`_pod_value` of it decoded)."""
    try:
        head = _decode_head(view)
    except msgspec.ValidationError:  # not a mapping
        return False
    return head.kind == "Pod" and head.api_version == "v1"


def _pod_value(element: Any) -> bool:
    return (
        type(element) is dict and element.get("kind") == "Pod" and element.get("apiVersion") == "v1"
    )


class PodText(dict[str, Any]):
    """A v1 Pod outside ``kube-system`` that the reader kept as its JSON text (the caller's
    ``settle`` says ``pods_as_text``: it reads few of a large dump's Pods, if any). As a
    mapping it holds only ``kind`` and ``apiVersion`` (what it is; no namespace: no
    kube-proxy Pod); :func:`whole` decodes it when it is wanted."""

    __slots__ = ("text",)

    def __init__(self, text: msgspec.Raw) -> None:
        self.text = text
        self.update(_POD_KIND)


_POD_KIND = {"kind": "Pod", "apiVersion": "v1"}


def whole(obj: Any) -> Any:
    """``obj`` itself, or the whole Pod a :class:`PodText` stands for (decoded now)."""
    return _decode_json(memoryview(obj.text)) if type(obj) is PodText else obj


class _PodHeadMeta(msgspec.Struct, gc=False):
    namespace: Any = None


class _PodHead(_Head, gc=False):
    """An element's kind, apiVersion and namespace (its other fields skipped, in C)."""

    metadata: _PodHeadMeta | None = None


_decode_pod_head = msgspec.json.Decoder(_PodHead).decode


def _pod_kept_as_text(raw: msgspec.Raw) -> PodText | None:
    """The element as a :class:`PodText` when its text is a v1 Pod whose namespace is not
    ``kube-system`` (None: decode it, a kube-proxy Pod is read whole)."""
    try:
        head = _decode_pod_head(raw)
    except msgspec.ValidationError:  # not a mapping, or its metadata not one
        return None
    if head.kind != "Pod" or head.api_version != "v1":
        return None
    if head.metadata is not None and head.metadata.namespace == "kube-system":
        return None
    return PodText(raw)


#: ``(index, exception)``: an element refused, by its place in the dump.
Refusal = tuple[int, Exception]


class _Aside:
    """A large dump read over two processes: an ``os.fork`` child checks every element
    within the bounds and settles the Pods (most of the bytes), while this process decodes
    the elements without checking them (kept, or let go past the memory bound and decoded
    again at the end, like dropped elements; one let go is checked and settled here
    first, as :func:`_pass` does).

    Only when the caller's ``settle`` says ``fork`` and can ``record`` an object the child
    settled (its own notes stay in the child). The child first runs the input's
    :class:`_Scans` (should they find anything, its one answer says so, and the exact
    reader reads the input; without a word from the child, this process runs them). The
    caller's ``accepts_pod_text(text)``, if any, says when ``text`` is a v1 Pod ``settle``
    passes, read off its text alone (true: its answer, kept for ``named_key``). The child
    holds one Pod at a time (and those answers) and answers its first bounds refusal (if
    any) and the Pods ``settle`` refused before it.
    Refusals come out as one process reading in order gives them: the earliest of this
    process's (of what it let go), the child's bounds refusal and ``settle``'s refusal of
    a Pod let go here (one kept is not settled: ``settle`` is not told of it, and the
    caller's whole check refuses it in its own order). A child that fails otherwise
    leaves its checks to this process; after a nested List no later Pod is settled (its
    index is not its object's).

    When ``settle`` also offers ``keep_whole_check``, ``check_whole(objects, checked)``
    and ``planned_pod(text)``, the child then checks the dump as a whole (once this
    process's own elements passed: ``Child.go``, given before this process reads the
    child's first answer, so that it works while this process goes on): it rebuilds the
    objects from the elements, the Pods it settled as much as ``planned_pod`` reads of
    them, and answers a second time with ``check_whole``'s verdict, which
    :meth:`whole_verdict` gives the caller for objects that are the elements one for one
    (else no word: the caller checks them). With ``named_key(text, accepted)`` and
    ``passes_with_named(objects, keys, checked)`` too, the elements whose names are all
    the whole check reads of them (``accepted``: ``accepts_pod_text``'s answer for a Pod)
    are left out of those objects, known by their keys, and ``check_whole`` is asked only
    when ``passes_with_named`` says no.

    When ``settle`` says ``pods_as_text``, this process does not decode the Pods outside
    ``kube-system``: each stays a :class:`PodText` (its text, decoded by :func:`whole` when
    the caller wants it), neither kept against the memory bound nor let go; when the child
    gives no word, they are read whole as they are checked here. ``settle``'s
    ``before_verdict(elements)``, if any, is handed the elements before this process
    waits for the child's first answer, when they are all in hand (none let go) and
    each an object the reader returns as it is (``_plain_object``; a ``PodText`` is one),
    and no refusal came yet: whatever it makes of them is the caller's to keep or drop
    (the read may still be refused).
    """

    def __init__(
        self,
        child: Child,
        settle: Settle,
        whole: Callable[[_Aside], None] | None,
        scans: _Scans,
    ) -> None:
        self.child, self.settle, self.whole, self.scans = child, settle, whole, scans
        #: The Pods' indices, in order; those the child settled (None: none): those up to
        #: the first index but the second's.
        self.pods: list[int] = []
        self.settled: tuple[int, set[int]] | None = None
        #: The elements decoded here (when handed to ``whole``).
        self.out: list[Any] | None = None

    @classmethod
    def start(
        cls,
        raws: list[msgspec.Raw],
        where: Callable[[int], str],
        check: Check,
        limits: Limits,
        settle: Settle | None,
        scans: _Scans,
    ) -> _Aside | None:
        if (
            settle is None
            or not getattr(settle, "fork", False)
            or not hasattr(settle, "record")
            or len(raws) < _ASIDE_MIN
        ):
            return None
        theirs = settle
        accepts = getattr(settle, "accepts_pod_text", None)
        # The caller's whole check, run by the child on its own copy of the elements.
        keep = getattr(settle, "keep_whole_check", None)
        check_whole = getattr(settle, "check_whole", None)
        planned_pod = getattr(settle, "planned_pod", None)
        whole = keep if keep is not None and check_whole and planned_pod else None
        # Objects the whole check reads only the names of, and its check given them.
        named = getattr(settle, "named_key", None)
        passes = getattr(settle, "passes_with_named", None)

        def answers(wait: Callable[[], bool]) -> Iterator[Any]:  # in the child
            if scans.found():  # before anything is decoded
                yield _EXACT
                return
            refused: list[int] = []  # settle's refusals, by index
            settled = bytearray(len(raws))  # 1: a Pod settle passed
            accepted: list[Any] = [None] * len(raws)  # accepts' answers, by index
            for index, raw in enumerate(raws):
                view = memoryview(raw)
                # A Pod the caller's check passes, read off its text (no dicts to build),
                # and within the bounds by its text (a Pod: a mapping with a kind).
                known = accepts(view) if accepts is not None else None
                if known and not _needs_walk(view, limits):
                    settled[index] = 1
                    accepted[index] = known
                    continue
                pod = _pod_text(view)
                element = _decode_json(view)
                try:
                    check(element, where(index), _needs_walk(view, limits))
                except Exception as exc:  # the read stops here (raised by the parent)
                    yield (index, exc), refused
                    return
                if not pod:  # (its own checks: the parent's, should it let it go)
                    continue
                try:
                    theirs(element, index)
                    settled[index] = 1
                except Exception:  # redone by the parent if it let this Pod go
                    refused.append(index)
                del element
            yield None, refused
            if whole is None or not wait():  # this process's part passed: asked
                return
            assert check_whole is not None and planned_pod is not None
            hooks = _WholeCheck(check_whole, planned_pod, named, passes)
            yield _whole_answer(raws, settled, accepted, limits, hooks)

        return cls(Child.start_answers(answers), settle, whole, scans)

    def read(
        self,
        raws: list[msgspec.Raw],
        out: list[Any],
        dropped: list[int],
        retention: Retention,
        where: Callable[[int], str],
        check: Check,
        limits: Limits,
    ) -> None:
        """Every element decoded into ``out`` (None: let go, its index in ``dropped``), those
        let go checked here; raises the first refusal in order."""
        first: Refusal | None = None
        pods, settle = self.pods, self.settle
        unchecked: list[int] = []  # elements kept here unchecked (the child checks them)
        as_text = getattr(settle, "pods_as_text", False)
        # Elements after a nested List are not settled (their index is not their object's).
        flat, flat_until = True, len(raws)
        plain = True  # every element an object the reader returns as it is
        for index, raw in enumerate(raws):
            if as_text:
                as_pod_text = _pod_kept_as_text(raw)
                if as_pod_text is not None:  # checked by the child; decoded when wanted
                    pods.append(index)
                    out.append(as_pod_text)
                    continue
            view = memoryview(raw)
            if retention.dropping and _pod_text(view):
                pods.append(index)
                out.append(None)
                dropped.append(index)
                continue
            element = _decode_json(view)
            if _pod_value(element):
                pods.append(index)
                if retention.keep(len(view)):
                    out.append(element)
                else:
                    out.append(None)
                    dropped.append(index)
                continue
            kept = retention.keep(len(view))
            if not kept:  # checked before it is let go
                try:
                    check(element, where(index), _needs_walk(view, limits))
                    if flat and isinstance(element, dict):
                        settle(element, index)
                except Exception as exc:  # raised below, unless the child refused before
                    first = index, exc
                    break
            if kept:
                unchecked.append(index)
                out.append(element)
            else:
                out.append(None)
                dropped.append(index)
            if flat and not (isinstance(element, dict) and not _is_list(element)):
                flat, flat_until = False, index
            plain = plain and _plain_object(element)
            del element
        if first is None and self.whole is not None:
            self.child.go()  # its whole check, while this process goes on
        early = getattr(settle, "before_verdict", None)
        if early is not None and first is None and not dropped and plain:
            early(out)  # while the child still checks the Pods
        # Settled one by one (as they are read in one process): the Pods let go, before any
        # nested List.
        let_go = dropped[0] if dropped else len(raws)
        answer = self._verdict()
        if answer is None:  # no word from the child: what it checks is checked here
            self.scans.check()
            theirs = self._check_here(
                raws, out, unchecked, where, check, limits, settle, let_go, flat_until
            )
        else:
            theirs, refused = answer
            redo = [i for i in refused if let_go <= i <= flat_until]
            if redo and (theirs is None or redo[0] < theirs[0]):
                theirs = _settle_refusal(raws, redo[0], settle) or theirs
            skip = set(refused)
            self.settled = flat_until, skip
        if theirs is not None and (first is None or theirs[0] < first[0]):
            first = theirs
        if first is not None:
            raise first[1]

    def _verdict(self) -> tuple[Refusal | None, list[int]] | None:
        """The child's first bounds refusal and the Pods ``settle`` refused; None when the
        child gave no word. Raises :class:`_Exact` when its :class:`_Scans` found
        something."""
        outcome = self.child.next()
        if outcome is None or not outcome[0]:
            return None
        answer = outcome[1]
        if answer == _EXACT:
            raise _Exact
        if not (isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[1], list)):
            return None
        refusal = answer[0]
        if refusal is None or (
            isinstance(refusal, tuple)
            and len(refusal) == 2
            and isinstance(refusal[0], int)
            and isinstance(refusal[1], Exception)
        ):
            return refusal, answer[1]
        return None

    def _check_here(
        self,
        raws: list[msgspec.Raw],
        out: list[Any],
        unchecked: list[int],
        where: Callable[[int], str],
        check: Check,
        limits: Limits,
        settle: Settle,
        let_go: int,
        flat_until: int,
    ) -> Refusal | None:
        """The first refusal, in order, of the Pods and the ``unchecked`` elements (kept
        here unchecked), as the child would have answered it."""
        pods = set(self.pods)
        for index in sorted((*self.pods, *unchecked)):
            view = memoryview(raws[index])
            element = out[index]
            if type(element) is PodText:  # read whole from now on
                element = out[index] = whole(element)
            elif element is None:
                element = _decode_json(view)  # let go again after its check
            try:
                check(element, where(index), _needs_walk(view, limits))
                if index in pods and let_go <= index <= flat_until:
                    settle(element, index)
            except Exception as exc:
                return index, exc
        return None

    def record(self, out: list[Any]) -> None:
        """Tells ``settle`` of the Pods the child settled (as decoded here)."""
        record = getattr(self.settle, "record", None)
        if self.settled is not None and record is not None:
            last, skip = self.settled
            for index in self.pods:
                if index <= last and index not in skip:
                    record(out[index], index)

    def whole_verdict(self, objects: list[Any]) -> tuple[Exception | None] | None:
        """The child's verdict of the caller's whole check (``check_whole``) of
        ``objects``: ``(None,)`` passed, ``(exception,)`` refused; None when it has no word
        on them (ended, or objects the reader may have made otherwise than the elements
        one for one), the caller then checks them itself. Closes the child."""
        try:
            out = self.out
            if (
                out is None
                or self.settled is None  # no first word: no second
                or len(objects) != len(out)
                or not all(map(operator.is_, objects, out))
            ):
                return None
            outcome = self.child.next()
            if outcome is None or not outcome[0]:
                return None
            answer = outcome[1]
            if (
                isinstance(answer, tuple)
                and len(answer) == 1
                and (answer[0] is None or isinstance(answer[0], Exception))
            ):
                return cast(tuple[Exception | None], answer)
            return None
        finally:
            self.close()

    def close(self) -> None:
        """Ends a child whose answer is no longer wanted."""
        self.child.close()


class _WholeCheck(NamedTuple):
    """The caller's whole check, as the child runs it (see :class:`_Aside`)."""

    check_whole: Callable[[list[dict[str, Any]], set[int]], None]
    planned_pod: Callable[[memoryview], dict[str, Any] | None]
    named_key: Callable[[memoryview, Any], Any] | None
    passes_with_named: Callable[[list[dict[str, Any]], list[Any], set[int]], bool] | None


def _whole_answer(
    raws: list[msgspec.Raw],
    settled: bytearray,
    accepted: list[Any],
    limits: Limits,
    hooks: _WholeCheck,
) -> tuple[Exception | None] | None:
    """The child's second answer: ``(None,)`` when ``check_whole`` of the objects the
    elements read as passes, ``(exception,)`` its refusal, None: no word (objects the
    reader may make otherwise: checked by the parent). The elements ``named_key`` names
    are left out first and ``passes_with_named`` asked; only when it says no are they
    all rebuilt for ``check_whole`` (its refusal's wording)."""
    if hooks.named_key is not None and hooks.passes_with_named is not None:
        named = (hooks.named_key, accepted)
        rebuilt = _rebuilt(raws, settled, hooks.planned_pod, limits, named)
        if rebuilt is None:
            return None
        objects, checked, keys = rebuilt
        if not keys:
            return _checked_whole(hooks.check_whole, objects, checked)
        if hooks.passes_with_named(objects, keys, checked):
            return (None,)
        del rebuilt, objects, checked, keys
    rebuilt = _rebuilt(raws, settled, hooks.planned_pod, limits)
    if rebuilt is None:
        return None
    return _checked_whole(hooks.check_whole, rebuilt[0], rebuilt[1])


def _checked_whole(
    check_whole: Callable[[list[dict[str, Any]], set[int]], None],
    objects: list[dict[str, Any]],
    checked: set[int],
) -> tuple[Exception | None]:
    try:
        check_whole(objects, checked)
    except Exception as exc:
        return (exc,)
    return (None,)


def _rebuilt(
    raws: list[msgspec.Raw],
    settled: bytearray,
    planned_pod: Callable[[memoryview], dict[str, Any] | None],
    limits: Limits,
    named: tuple[Callable[[memoryview, Any], Any], list[Any]] | None = None,
) -> tuple[list[dict[str, Any]], set[int], list[Any]] | None:
    """The objects a List of these elements reads as (each element one object, as
    ``cluster.kube_dump`` takes the common item), the Pods ``settle`` passed as much of
    them as the whole check reads (``planned_pod``), and the ``id()`` of those; with
    ``named`` (``settle.named_key`` and the answers it is given by index), the elements
    it names left out, their keys listed third. None when an element would be read
    otherwise (no plain object: a nested List, no kind...)."""
    if len(raws) > limits.max_objects:
        return None
    objects: list[dict[str, Any]] = []
    checked: set[int] = set()
    keys: list[Any] = []
    named_key, accepted = named if named is not None else (None, [])
    for index, raw in enumerate(raws):
        view = memoryview(raw)
        if named_key is not None:
            key = named_key(view, accepted[index])
            if key is not None:
                keys.append(key)
                continue
        obj = planned_pod(view) if settled[index] else None
        if obj is None:
            obj = _decode_json(view)
            if not _plain_object(obj):
                return None
        if settled[index]:
            checked.add(id(obj))
        objects.append(obj)
    return objects, checked, keys


def _plain_object(obj: Any) -> bool:
    """An item ``cluster.kube_dump`` takes as it is (``_flatten``'s common item)."""
    if type(obj) is not dict:
        return False
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    return (
        type(kind) is str
        and type(api_version) is str
        and bool(kind)
        and bool(api_version)
        and not (kind.endswith("List") and "items" in obj)
    )


def _settle_refusal(raws: list[msgspec.Raw], index: int, settle: Settle) -> Refusal | None:
    """``settle``'s refusal of element ``index`` (which the child saw), raised here."""
    try:
        settle(_decode_json(memoryview(raws[index])), index)
    except Exception as exc:
        return index, exc
    return None
