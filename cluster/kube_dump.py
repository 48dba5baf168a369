"""Read what ``kubectl get ... -o json|yaml`` prints into a flat list of object dicts.

Pure: the standard library and PyYAML only, no Django. The importer, the ``simulate``
command and the API's inline dumps all read dumps through :func:`read_objects`, so every
entry point refuses bad input with the same one-line :class:`DumpError`.

Accepted shapes: a JSON document (or several in a row, as ``kubectl get -w -o json``
prints), a YAML stream of one or more documents, a ``kind: List``
(nested Lists flattened), typed API lists such as ``ServiceList`` (whose items omit ``kind``
and ``apiVersion``, which are then inferred from the list), a bare JSON array of objects, and
single objects. Objects come back in file order. Any of these may be gzip-compressed.

A JSON dump is read by :mod:`cluster.dump_json` (msgspec, memory-bounded) when its bytes hold
nothing only the exact reader here words; otherwise, and for YAML, by the code below.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import stat
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cluster.bounds import DEFAULT_LIMITS, Limits, Refused, check_value, not_a_number
from cluster.bounds import number as bounded_number
from cluster.dump_json import PodText, Retention, Settle, collector_paused, fast_documents

__all__ = [
    "Dump",
    "DumpError",
    "DumpTooLarge",
    "Limits",
    "load_yaml",
    "read_dump",
    "read_objects",
    "read_value",
]

_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
#: The longest error line: whatever a file holds, a refusal stays readable.
MAX_MESSAGE = 1000


class DumpError(ValueError):
    """A dump that cannot be read; the message is one line naming the object and field.

    Names and keys quoted in the message come from the file, so control characters
    (a label key with a newline, say) are escaped here: the message stays one line.
    """

    def __init__(self, message: object = "", *args: object) -> None:
        text = str(message)
        if not text.isprintable():
            text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 3] + "..."
        super().__init__(text, *args)


class DumpTooLarge(DumpError):
    """A dump over a size bound (bytes, objects, values): the API answers 413."""


_ALIAS_TAG = "tag:routescope,2026:alias"


@functools.cache
def _stream_loader() -> Any:
    """The YAML loader class, built on first use: PyYAML is imported only when a YAML
    document is read (a JSON dump, and the ``routescope`` command on one, never pay for it)."""
    import yaml
    from yaml.composer import Composer
    from yaml.constructor import ConstructorError, SafeConstructor
    from yaml.events import AliasEvent

    _SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _KubeLoader(_SafeLoader):  # type: ignore[misc, valid-type]
        """A safe YAML loader that keeps timestamps as the strings Kubernetes sent.

        PyYAML would turn an unquoted ``creationTimestamp`` into a ``datetime``, which neither
        survives JSON storage nor exports back to the same text.

        Bounded (``limits``, set per load): a YAML alias is never expanded, it becomes a
        :class:`~cluster.bounds.Refused` marker the bounds check reports with its path, so
        a "billion laughs" costs no more than its text; merge keys (``<<``), which copy
        mappings while the document is still being composed, are refused outright; numbers
        too long to be a Kubernetes field are not converted.
        """

        limits: Limits = DEFAULT_LIMITS

        def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
            if node in self.constructed_objects or node in self.recursive_objects:
                # A second reference to one node: an alias. Expanding aliases is what blows up.
                return Refused("is a YAML alias; anchors and aliases are not accepted in a dump")
            return super().construct_object(node, deep=deep)

        def flatten_mapping(self, node: yaml.MappingNode) -> None:
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise ConstructorError(
                        None,
                        None,
                        "merge keys (<<) are not accepted in a dump",
                        key_node.start_mark,
                    )
            super().flatten_mapping(node)

        def construct_bounded_int(self, node: yaml.ScalarNode) -> Any:
            text = self.construct_scalar(node)
            if len(text) > self.limits.max_number:
                return bounded_number(text, self.limits, int)
            return SafeConstructor.construct_yaml_int(self, node)

        def construct_bounded_float(self, node: yaml.ScalarNode) -> Any:
            text = self.construct_scalar(node)
            if len(text) > self.limits.max_number:
                return bounded_number(text, self.limits, float)
            return SafeConstructor.construct_yaml_float(self, node)

    _KubeLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
    }
    _KubeLoader.add_constructor("tag:yaml.org,2002:int", _KubeLoader.construct_bounded_int)
    _KubeLoader.add_constructor("tag:yaml.org,2002:float", _KubeLoader.construct_bounded_float)

    class _StreamLoader(_KubeLoader, Composer):
        """libyaml's parser with PyYAML's Python composer, so that a document can be composed
        one List item at a time (libyaml's own composer only builds whole documents).

        An alias is composed as a marker node, never as the anchored node again: whatever is
        built and when, no alias is ever expanded.
        """

        def __init__(self, text: str) -> None:
            # The base is picked at runtime (libyaml's CSafeLoader when built), so mypy sees it
            # as an unknown class and its __init__ as object's.
            _KubeLoader.__init__(self, text)  # type: ignore[call-arg]
            Composer.__init__(self)

        def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
            if self.check_event(AliasEvent):
                event = self.get_event()
                return yaml.ScalarNode(_ALIAS_TAG, event.anchor, event.start_mark, event.end_mark)
            return Composer.compose_node(self, parent, index)

        def construct_alias(self, node: yaml.ScalarNode) -> Refused:
            return Refused("is a YAML alias; anchors and aliases are not accepted in a dump")

    _StreamLoader.add_constructor(_ALIAS_TAG, _StreamLoader.construct_alias)

    return _StreamLoader


def _load_yaml_all(text: str, limits: Limits, *, check: bool = True) -> list[Any]:
    """Every document of a YAML stream. A document's ``items`` (or a bare top-level
    sequence) is composed, built and, with ``check``, bounds-checked one element at a time:
    PyYAML's node graph costs some 50 times the text, so a whole List document is never
    composed at once, and a hostile one is refused at its first bad element."""
    from yaml.events import StreamEndEvent

    loader = _stream_loader()(text)
    loader.limits = limits
    budget = [limits.max_values]
    try:
        loader.get_event()  # StreamStartEvent
        documents: list[Any] = []
        while not loader.check_event(StreamEndEvent):
            where = f"document {len(documents) + 1}"
            documents.append(_yaml_document(loader, where, budget if check else None))
        return _Checked(documents) if check else documents
    finally:
        loader.dispose()


def _yaml_value(loader: Any) -> Any:
    return loader.construct_document(loader.compose_node(None, None))


def _yaml_sequence(loader: Any, where: Any, budget: list[int] | None) -> list[Any]:
    from yaml.events import SequenceEndEvent

    loader.get_event()  # SequenceStartEvent
    out: list[Any] = []
    while not loader.check_event(SequenceEndEvent):
        item = _yaml_value(loader)
        if budget is not None:
            _check_element(item, where(len(out)), loader.limits, budget)
        out.append(item)
    loader.get_event()
    return out


def _yaml_document(loader: Any, where: str, budget: list[int] | None) -> Any:
    from yaml.events import MappingEndEvent, MappingStartEvent, SequenceStartEvent

    loader.get_event()  # DocumentStartEvent
    start = loader.peek_event()
    if getattr(start, "tag", None) is not None and not getattr(start, "implicit", True):
        document: Any = _yaml_value(loader)  # an explicit tag: composed whole, as PyYAML does
        if budget is not None and document is not None:
            _check_element(document, where, loader.limits, budget)
    elif loader.check_event(SequenceStartEvent):
        document = _yaml_sequence(loader, lambda index: f"{where}, item {index}", budget)
    elif loader.check_event(MappingStartEvent):
        loader.get_event()
        document = {}
        while not loader.check_event(MappingEndEvent):
            key = _yaml_value(loader)
            if key == "items" and loader.check_event(SequenceStartEvent):
                value = _yaml_sequence(loader, lambda index: f"{where}, items[{index}]", budget)
            else:
                value = _yaml_value(loader)
            try:
                document[key] = value
            except TypeError:  # `? [a, b]` : a complex key
                raise DumpError(f"{where}: a mapping key is a {_type_name(key)}") from None
        loader.get_event()
        if budget is not None and not (
            _is_list(document) and isinstance(document.get("items"), list)
        ):
            _check_element(document, where, loader.limits, budget)  # one object: all of it
    else:
        document = _yaml_value(loader)
    loader.get_event()  # DocumentEndEvent
    loader.anchors = {}
    return document


def load_yaml(text: str, *, limits: Limits = DEFAULT_LIMITS) -> Any:
    """One YAML document (``config.conf``), read as dumps are: no aliases, numbers bounded.

    Raises ``yaml.YAMLError`` for bad YAML and ``RecursionError`` for hostile nesting;
    the caller then runs :func:`cluster.bounds.check_value` on the result.
    """
    import yaml

    documents = _load_yaml_all(text, limits, check=False)
    if len(documents) > 1:
        raise yaml.YAMLError("expected one YAML document, found several")
    return documents[0] if documents else None


def _json_decoder(limits: Limits, keys: dict[str, str] | None = None) -> json.JSONDecoder:
    """A decoder whose numbers are bounded; with ``keys``, mapping keys are shared through
    it across calls (one ``json.loads`` shares them by itself, but the element-by-element
    decoding of :class:`_JsonReader` would otherwise hold a copy of "metadata" per object)."""
    hook = None
    if keys is not None:

        def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            return {keys.setdefault(key, key): value for key, value in pairs}

    return json.JSONDecoder(
        parse_int=lambda text: (
            int(text) if len(text) <= limits.max_number else bounded_number(text, limits, int)
        ),
        parse_float=lambda text: bounded_number(text, limits, float),
        parse_constant=not_a_number,
        object_pairs_hook=hook,
    )


@dataclass(frozen=True)
class Dump:
    """The objects of one dump, and the objects a later YAML document replaced."""

    objects: list[dict[str, Any]]
    #: "Kind namespace/name" of each object dropped because a later document of the same
    #: stream holds an object with the same kind, namespace and name.
    replaced: tuple[str, ...] = ()


def read_objects(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    max_bytes: int | None = None,
    limits: Limits | None = None,
    settle: Settle | None = None,
) -> list[dict[str, Any]]:
    """Return the Kubernetes objects in ``source`` as a flat list of dicts, in file order.

    ``source`` is a path, ``"-"`` for standard input, or a binary file object. A source
    larger than ``max_bytes`` is refused before it is parsed (a path by its size on disk,
    a stream after reading at most ``max_bytes + 1`` bytes). Raises :class:`DumpError` for
    anything that is not a readable Kubernetes dump. See :func:`read_dump` for what
    happens to an object repeated in a later YAML document. ``limits`` bounds what the
    decoded objects may hold (depth, string and number length, counts; see
    :class:`cluster.bounds.Limits`); anything beyond is refused naming object and path.
    """
    return read_dump(source, max_bytes=max_bytes, limits=limits, settle=settle).objects


def read_dump(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    max_bytes: int | None = None,
    limits: Limits | None = None,
    settle: Settle | None = None,
) -> Dump:
    """Like :func:`read_objects`, also naming the objects later documents replaced.

    A multi-document YAML stream is a sequence of manifests: applied in order (as
    ``kubectl apply -f`` does), a later document's object replaces an earlier one with
    the same kind, namespace and name, so only the later one is returned. Within one
    document (one ``List``, as ``kubectl get`` prints) a repeated object is left in place
    for the importer to refuse: no API server lists an object twice.

    ``settle(obj, index)`` is the caller's own check of one object (the importer's:
    ``cluster.plan.check_object``). A large JSON dump's objects decoded past the memory
    bound are let go once checked and decoded again at the end; ``settle`` runs on them
    before they are let go, so a dump the caller would refuse for its last object is
    refused within the bound too. Its exception propagates as raised.
    """
    limits = limits or DEFAULT_LIMITS
    data = _read_bytes(source, max_bytes=max_bytes, limits=limits)
    try:
        # Decoding builds millions of small containers that hold no cycles: the cyclic GC
        # would only walk an ever larger heap again and again (half the time it took).
        with collector_paused():
            documents = _parse(data, limits, settle)
            del data  # the decoded objects are what we keep; let the raw bytes go first
            return _objects(documents, limits)
    except RecursionError:  # hostile nesting: the parsers and _flatten recurse per level
        raise DumpError("input nests too deeply to be a Kubernetes dump") from None


def read_value(value: Any, *, limits: Limits | None = None) -> list[dict[str, Any]]:
    """The objects of a dump that is already decoded (the API's inline ``cluster_dump``),
    checked within ``limits`` as :func:`read_objects` checks a file, without encoding it
    to text and decoding it again."""
    limits = limits or DEFAULT_LIMITS
    if value is None:
        raise DumpError("empty input: no Kubernetes objects found")
    try:
        return _objects(_Single([value]), limits).objects
    except RecursionError:
        raise DumpError("input nests too deeply to be a Kubernetes dump") from None


def _objects(documents: list[Any], limits: Limits = DEFAULT_LIMITS) -> Dump:
    # Decoded JSON was checked element by element already (see _JsonReader).
    budget = (
        None
        if isinstance(documents, _Checked) or getattr(documents, "checked", False)
        else [limits.max_values]
    )
    per_document: list[list[dict[str, Any]]] = []
    for index, document in enumerate(documents):
        if document is None:  # an empty YAML document between two '---'
            continue
        where = f"document {index + 1}" if not isinstance(documents, _Single) else "top level"
        objects: list[dict[str, Any]] = []
        _flatten(document, where=where, out=objects, inherited=None, limits=limits, budget=budget)
        per_document.append(objects)
    if not per_document:
        raise DumpError("empty input: no Kubernetes objects found")
    if len(per_document) == 1:
        return Dump(objects=per_document[0])
    return _merge(per_document)


def _identity(obj: dict[str, Any]) -> tuple[str, str, str] | None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return None
    namespace = meta.get("namespace")
    return obj["kind"], namespace if isinstance(namespace, str) else "", meta["name"]


def _merge(per_document: list[list[dict[str, Any]]]) -> Dump:
    last_document: dict[tuple[str, str, str], int] = {}
    for number, objects in enumerate(per_document):
        for obj in objects:
            key = _identity(obj)
            if key is not None:
                last_document[key] = number
    kept: list[dict[str, Any]] = []
    replaced: list[str] = []
    for number, objects in enumerate(per_document):
        for obj in objects:
            key = _identity(obj)
            if key is not None and last_document[key] != number:
                kind, namespace, name = key
                replaced.append(f"{kind} {namespace + '/' if namespace else ''}{name}")
                continue
            kept.append(obj)
    return Dump(objects=kept, replaced=tuple(replaced))


class _Single(list):
    """Marks a parse result that held exactly one JSON document (for error wording)."""


def _read_bytes(source: Any, *, max_bytes: int | None, limits: Limits = DEFAULT_LIMITS) -> bytes:
    if isinstance(source, (str, os.PathLike)) and str(source) == "-":
        return _read_stream(
            sys.stdin.buffer, name="standard input", max_bytes=max_bytes, limits=limits
        )
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            found = path.stat()
            if max_bytes is not None and found.st_size > max_bytes:
                raise DumpTooLarge(_too_big(str(path), found.st_size, max_bytes))
            if max_bytes is None and stat.S_ISREG(found.st_mode):
                data = _read_whole(path)
                if data is not None:
                    return data
            with path.open("rb") as handle:
                return _read_stream(handle, name=str(path), max_bytes=max_bytes, limits=limits)
        except OSError as exc:
            raise DumpError(f"cannot read {path}: {exc.strerror or exc}") from None
    if hasattr(source, "read"):
        return _read_stream(
            source, name=getattr(source, "name", "input"), max_bytes=max_bytes, limits=limits
        )
    raise DumpError(f"cannot read a dump from a {type(source).__name__}")


def _read_whole(path: Path) -> bytes | None:
    """A regular, uncompressed file's bytes in one read (one buffer, not chunks joined:
    half the copying and the memory); None when it starts as gzip does."""
    with path.open("rb", buffering=0) as raw:
        if raw.read(len(_GZIP_MAGIC)) == _GZIP_MAGIC:
            return None
        raw.seek(0)
        return raw.readall()


def _read_stream(
    handle: IO[bytes], *, name: str, max_bytes: int | None, limits: Limits = DEFAULT_LIMITS
) -> bytes:
    chunks = _chunks(handle)
    first = next(chunks, b"")
    if first[:2] == _GZIP_MAGIC:
        chunks = _gunzip(itertools.chain([first], chunks), name=name, limits=limits)
    else:
        chunks = itertools.chain([first], chunks)
    kept: list[bytes] = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            # Stop at once: neither a multi-gigabyte stream nor a gzip bomb is buffered.
            raise DumpTooLarge(_too_big(name, None, max_bytes))
        kept.append(chunk)
    return b"".join(kept)


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while True:
        chunk = handle.read(_CHUNK)
        if not chunk:
            return
        if isinstance(chunk, str):  # a text stream was handed in; accept it as UTF-8
            chunk = chunk.encode("utf-8")
        yield chunk


def _gunzip(
    compressed: Iterator[bytes], *, name: str, limits: Limits = DEFAULT_LIMITS
) -> Iterator[bytes]:
    """Decompress a gzip stream (``kubectl get ... | gzip``) in bounded pieces.

    Past ``limits.gzip_allowance`` bytes, the output may not exceed ``max_gzip_ratio``
    times the compressed bytes read (kubectl's JSON compresses some 10 to 20 times): a
    gzip bomb is refused long before ``max_bytes``.
    """
    inflater = zlib.decompressobj(wbits=31)
    read = produced = 0
    try:
        for chunk in compressed:
            read += len(chunk)
            while chunk:
                # max_length bounds each piece, so a tiny bomb cannot expand all at once.
                piece = inflater.decompress(chunk, _CHUNK)
                produced += len(piece)
                if produced > limits.gzip_allowance and produced > limits.max_gzip_ratio * read:
                    raise DumpTooLarge(
                        f"{name} decompresses to more than {limits.max_gzip_ratio} times its size"
                        " (the limit; ROUTESCOPE_DUMP_MAX_GZIP_RATIO): not a kubectl dump"
                    )
                yield piece
                chunk = inflater.unconsumed_tail
                if inflater.eof and inflater.unused_data:  # several gzip members in a row
                    chunk, inflater = inflater.unused_data + chunk, zlib.decompressobj(wbits=31)
        yield inflater.flush()
    except zlib.error as exc:
        raise DumpError(f"{name} is not a valid gzip file: {exc}") from None
    if not inflater.eof:
        raise DumpError(f"{name} is a truncated gzip file")


def _too_big(name: str, size: int | None, limit: int) -> str:
    actual = f"{size:,} bytes" if size is not None else "more than that"
    return f"{name} is too large: {actual}, the limit is {limit:,} bytes"


def _parse(data: bytes, limits: Limits = DEFAULT_LIMITS, settle: Settle | None = None) -> list[Any]:
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise DumpError("empty input: no Kubernetes objects found")
    if stripped[:1] in (b"{", b"["):
        budget = [limits.max_values]
        fast = fast_documents(
            data,
            limits,
            lambda item, where, walk: _check_element(
                item, where, limits, budget, plain=True, walk=walk
            ),
            settle,
        )
        if fast is not None:
            return _checked(_Single(fast))
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DumpError("input is not UTF-8 text") from None
        reader = _JsonReader(text, limits)
        try:
            document, end = reader.document(_skip(text, 0), where="top level")
        except json.JSONDecodeError as exc:
            return _yaml_flow_or_fail(data, exc, stripped, limits)
        if _skip(text, end) == len(text):
            return _checked(_Single([document]))
        # Several JSON documents one after another, as `kubectl get -w -o json` prints.
        del document
        return _json_stream(text, limits)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DumpError(f"input is not UTF-8 text (byte offset {exc.start})") from None
    import yaml

    try:
        return _load_yaml_all(text, limits)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DumpError(f"invalid YAML{at}: {problem}") from None
    except yaml.YAMLError as exc:
        raise DumpError(f"invalid YAML: {' '.join(str(exc).split())}") from None


def _yaml_flow_or_fail(
    data: bytes, error: json.JSONDecodeError, stripped: bytes, limits: Limits
) -> list[Any]:
    """``{kind: Node, ...}`` is YAML flow style, not broken JSON: accept it as YAML.

    Only when JSON fails at the very first key (unquoted): any later JSON error is a real
    one, and its line and column help more than YAML's reading of the same text.
    """
    first_key = len(data) - len(stripped) + 1
    unquoted_start = (
        error.msg.startswith("Expecting property name") and not data[first_key : error.pos].strip()
    )
    if not unquoted_start:
        raise DumpError(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    import yaml

    try:
        documents = _load_yaml_all(data.decode("utf-8-sig"), limits)
    except (yaml.YAMLError, UnicodeDecodeError):
        documents = []
    if documents and all(isinstance(d, (dict, list)) for d in documents):
        return documents
    raise DumpError(
        f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
    ) from None


def _json_stream(text: str, limits: Limits) -> list[Any]:
    reader = _JsonReader(text, limits)
    documents: list[Any] = []
    position, end = 0, len(text)
    while True:
        position = _skip(text, position)
        if position == end:
            return _checked(documents)
        try:
            document, position = reader.document(position, where=f"document {len(documents) + 1}")
        except json.JSONDecodeError as exc:
            if text.startswith("---", position):  # JSON documents in a YAML stream
                import yaml

                try:
                    return _load_yaml_all(text, limits)
                except yaml.YAMLError:
                    pass  # the JSON error below says more
            raise DumpError(
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        documents.append(document)


_WHITESPACE = re.compile(r"[ \t\r\n]*")


def _skip(text: str, position: int) -> int:
    return _WHITESPACE.match(text, position).end()  # type: ignore[union-attr]


class _Checked(list):
    """Documents whose items were bounds-checked while they were decoded."""


def _checked(documents: list[Any]) -> list[Any]:
    if isinstance(documents, _Single):
        documents.checked = True  # type: ignore[attr-defined]
        return documents
    return _Checked(documents)


class _JsonReader:
    """Decode a JSON document one array element at a time, checking each as it comes.

    A dump is one big array (a bare array, or a List's ``items``) of objects: decoding it
    element by element lets the bounds check (and the cheapest "is this an object at all"
    check) refuse a hostile dump at its first bad element, before the rest of it is built
    in memory: three million ``[]`` would otherwise cost 25 times their bytes first.
    """

    def __init__(self, text: str, limits: Limits) -> None:
        self.text, self.limits = text, limits
        self.decoder = _json_decoder(limits, keys={})
        self.budget = [limits.max_values]
        self.retention = Retention(len(text), copies=2)
        # Without these escapes no decoded string can hold NUL or a lone surrogate (the
        # text itself is strict UTF-8, and JSON refuses raw control characters).
        self.plain = _SUSPECT_ESCAPE.search(text) is None

    def document(self, position: int, *, where: str) -> tuple[Any, int]:
        first = self.text[position : position + 1]
        if first == "[":
            return self._array(position, lambda index: f"{where}, item {index}")
        if first == "{":
            obj, end = self._object(position, where)
            if not _is_list(obj) or not isinstance(obj.get("items"), list):
                self._check(obj, where)  # one object, not a List: check all of it
            return obj, end
        return self.decoder.raw_decode(self.text, position)

    def _array(self, position: int, where: Any) -> tuple[list[Any], int]:
        text = self.text
        out: list[Any] = []
        position = _skip(text, position + 1)
        if text.startswith("]", position):
            return out, position + 1
        # Elements past the memory bound are checked, dropped, and decoded again once the
        # whole array passed (see cluster.dump_json.Retention).
        dropped: list[tuple[int, int]] = []
        while True:
            start = position
            item, position = self.decoder.raw_decode(text, position)
            self._check(item, where(len(out)))
            if self.retention.keep(position - start):
                out.append(item)
            else:
                dropped.append((len(out), start))
                out.append(None)
            del item
            position = _skip(text, position)
            if text.startswith(",", position):
                position = _skip(text, position + 1)
            elif text.startswith("]", position):
                for index, start in dropped:
                    out[index] = self.decoder.raw_decode(text, start)[0]
                return out, position + 1
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, position)

    def _object(self, position: int, where: str) -> tuple[dict[str, Any], int]:
        text = self.text
        out: dict[str, Any] = {}
        position = _skip(text, position + 1)
        if text.startswith("}", position):
            return out, position + 1
        while True:
            if not text.startswith('"', position):
                raise json.JSONDecodeError(
                    "Expecting property name enclosed in double quotes", text, position
                )
            key, position = self.decoder.raw_decode(text, position)
            position = _skip(text, position)
            if not text.startswith(":", position):
                raise json.JSONDecodeError("Expecting ':' delimiter", text, position)
            position = _skip(text, position + 1)
            if key == "items" and text.startswith("[", position):
                out[key], position = self._array(position, lambda index: f"{where}, items[{index}]")
            else:
                out[key], position = self.decoder.raw_decode(text, position)
            position = _skip(text, position)
            if text.startswith(",", position):
                position = _skip(text, position + 1)
            elif text.startswith("}", position):
                return out, position + 1
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, position)

    def _check(self, item: Any, where: str) -> None:
        _check_element(item, where, self.limits, self.budget, plain=self.plain)


_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _check_element(
    item: Any,
    where: str,
    limits: Limits,
    budget: list[int],
    *,
    plain: bool = False,
    walk: bool = True,
) -> None:
    """Refuse ``item`` (a List item, an element of a bare array, or one object) unless it
    could be a Kubernetes object (or a list of them) within ``limits``. ``walk=False``:
    the caller knows from the element's text that it is within the bounds (see
    ``cluster.dump_json``), so only its shape is checked."""
    if isinstance(item, dict):
        if "kind" not in item and "apiVersion" not in item and "metadata" not in item:
            raise DumpError(f"{where} is not a Kubernetes object: it has no kind and no apiVersion")
    elif isinstance(item, list):
        if not item:
            raise DumpError(f"{where} is an empty list, not a Kubernetes object")
    else:
        raise DumpError(
            f"{where} is not a Kubernetes object: expected a mapping with kind and"
            f" apiVersion, got {_type_name(item)}"
        )
    found = check_value(item, limits, budget, plain=plain) if walk else None
    if found is not None:
        path, problem = found
        error = DumpTooLarge if budget[0] < 0 else DumpError
        label = _label(item) if isinstance(item, dict) else ""
        raise error(f"{where}{label}: {path + ' ' if path else ''}{problem}")


def _describe(obj: Any) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
        name = obj["metadata"].get("name")
        if name:
            namespace = obj["metadata"].get("namespace")
            return f" (metadata.name {_cut(f'{namespace}/' if namespace else '')}{_cut(name)})"
    return ""


def _cut(text: Any) -> str:
    text = str(text)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text):,} characters)"


def _label(obj: dict[str, Any]) -> str:
    """ "Service shop/web" (cut to a readable length), for bounds errors."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name, namespace = meta.get("name"), meta.get("namespace")
    where = f"{namespace}/" if isinstance(namespace, str) and namespace else ""
    named = f" {_cut(where)}{_cut(name)}" if isinstance(name, str) and name else ""
    return f" ({_cut(obj.get('kind'))}{named})"


def _is_list(obj: dict[str, Any]) -> bool:
    kind = obj.get("kind")
    if kind is None:
        # `{"apiVersion": "v1", "items": [...]}` is a List that lost its kind.
        return isinstance(obj.get("items"), list)
    return isinstance(kind, str) and kind.endswith("List") and "items" in obj


def _flatten(
    obj: Any,
    *,
    where: str,
    out: list[dict[str, Any]],
    inherited: tuple[str, str] | None,
    limits: Limits = DEFAULT_LIMITS,
    budget: list[int] | None = None,
) -> None:
    """Append the objects in ``obj`` to ``out``; ``budget`` (values left, see
    ``cluster.bounds.check_value``) is None when the bounds were checked while decoding."""
    if isinstance(obj, list):  # a bare JSON array of objects
        for index, item in enumerate(obj):
            _flatten(
                item,
                where=f"{where}, item {index}",
                out=out,
                inherited=None,
                limits=limits,
                budget=budget,
            )
        return
    if not isinstance(obj, dict):
        raise DumpError(
            f"{where} is not a Kubernetes object: expected a mapping with kind and apiVersion,"
            f" got {_type_name(obj)}"
        )
    if inherited is not None:
        # Items of a typed list (`ServiceList`) as the API server returns them omit
        # kind and apiVersion; kubectl fills them in, and so do we.
        obj.setdefault("kind", inherited[0])
        obj.setdefault("apiVersion", inherited[1])
    if _is_list(obj):
        items = obj.get("items")
        if items is None:
            items = []
        if not isinstance(items, list):
            raise DumpError(f"{where}: items must be a list, got {_type_name(items)}")
        child = _typed_list_item(obj)
        for index, item in enumerate(items):
            # The common item (an object with string kind and apiVersion, checked while
            # decoded) is taken here, without naming it; anything else the long way.
            if (
                budget is None
                and (type(item) is dict or type(item) is PodText)
                and type(item.get("kind")) is str
                and type(item.get("apiVersion")) is str
                and item["kind"]
                and item["apiVersion"]
                and not _is_list(item)
                and len(out) < limits.max_objects
            ):
                out.append(item)
                continue
            _flatten(
                item,
                where=f"{where}, items[{index}]",
                out=out,
                inherited=child,
                limits=limits,
                budget=budget,
            )
        return
    _check_object(obj, where=where)
    if len(out) >= limits.max_objects:
        raise DumpTooLarge(
            f"{where}: the dump holds more than {limits.max_objects:,} objects"
            " (the limit; ROUTESCOPE_DUMP_MAX_OBJECTS)"
        )
    found = check_value(obj, limits, budget) if budget is not None else None
    if found is not None:
        assert budget is not None  # only a budgeted check finds anything
        path, problem = found
        error = DumpTooLarge if budget[0] < 0 else DumpError
        raise error(f"{where}{_label(obj)}: {path + ' ' if path else ''}{problem}")
    out.append(obj)


def _typed_list_item(obj: dict[str, Any]) -> tuple[str, str] | None:
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if isinstance(kind, str) and kind != "List" and kind.endswith("List") and api_version:
        return kind[: -len("List")], str(api_version)
    return None


def _check_object(obj: dict[str, Any], *, where: str) -> None:
    for field in ("kind", "apiVersion"):
        value = obj.get(field)
        if value is None or value == "":
            if "kind" not in obj and "apiVersion" not in obj and "metadata" not in obj:
                raise DumpError(
                    f"{where} is not a Kubernetes object: it has no kind and no apiVersion"
                )
            raise DumpError(f"{where}{_describe(obj)}: missing {field}")
        if not isinstance(value, str):
            raise DumpError(
                f"{where}{_describe(obj)}: {field} must be a string, got {_type_name(value)}"
            )


def _type_name(value: Any) -> str:
    if isinstance(value, Refused):
        return f"a value that {value.why}"
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return names.get(type(value), type(value).__name__)
