"""``RenderCache``: what one render leaves for the next, owned and passed in by the caller.

Rendering a node formats hundreds of thousands of lines, and nodes of one zone without
local endpoints share nearly every block, so a render reuses blocks (and endpoint-side
chunks) an earlier render of the same snapshot made. The engine keeps none of that itself:
the caller creates one ``RenderCache`` per snapshot it serves (``routing.snapshots`` keeps
one beside each cached snapshot; a command makes one per run) and hands it to
``render_node_rules`` / ``diff_rules``. Without one, each call starts from an empty cache.

Keys hold endpoints and options by identity (hashing 150,000 frozen dataclasses would
cost more than the cache saves); each entry keeps the objects its key names alive, so an
id is never reused while its entry exists.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from routing.engine.rules.model import PortPlan, RenderOptions, ServiceRules

_T = TypeVar("_T")

#: a cache key: a tuple of hashable parts (names, ports, options and endpoint tuples by identity).
CacheKey = tuple[object, ...]
#: a rendered per-port block: (ServiceRules, the plan and the options it was rendered from).
Block = tuple["ServiceRules", "PortPlan", "RenderOptions"]


class RenderCache:
    """Rendered blocks and endpoint-side chunks, for renders of one snapshot (or its what-ifs)."""

    __slots__ = (
        "blocks",
        "memo",
        "max_blocks",
        "max_memo",
        "_options",
        "_snapshots",
        "_last_ids",
        "_last_names",
        "_last_bases",
    )

    def __init__(self, *, max_blocks: int = 50_000, max_memo: int = 200_000) -> None:
        #: per-port rendered blocks (``render.cached_service``):
        #: key -> (ServiceRules, plan, options).
        self.blocks: dict[CacheKey, Block] = {}
        #: endpoint-side chunks of the iptables and nftables renderers: key -> (chunk, endpoints).
        self.memo: dict[CacheKey, tuple[Any, ...]] = {}
        self.max_blocks, self.max_memo = max_blocks, max_memo
        self._options: dict[Any, Any] = {}
        #: (id(snapshot), name) -> (snapshot, value): facts of a whole snapshot
        #: (see ``per_snapshot``).
        self._snapshots: dict[tuple[int, str], tuple[Any, Any]] = {}
        # One-entry "same tuple as the last call" shortcuts (a port's block key, dispatch
        # and endpoint chunks usually walk one tuple in a row); each swapped whole.
        self._last_ids: tuple[tuple[object, ...], bytes] = ((), b"")
        self._last_names: tuple[object, object, list[tuple[str, str]] | None] = (None, None, None)
        self._last_bases: tuple[object, object, list[str] | None] = (None, None, None)

    def clear(self) -> None:
        """Forget everything (the chain-name hashes of ``naming`` are pure and stay)."""
        self.blocks.clear()
        self.memo.clear()
        self._options.clear()
        self._snapshots.clear()
        self._last_ids = ((), b"")
        self._last_names = self._last_bases = (None, None, None)

    def options(self, opts: Any) -> Any:
        """The canonical object equal to ``opts`` (a ``RenderOptions``), so block keys can
        hold options by identity and two nodes with the same flags share blocks."""
        got = self._options.get(opts)
        if got is None:
            if len(self._options) >= 1024:
                self._options.clear()  # cached blocks keep their own options alive: ids stay unique
            got = self._options[opts] = opts
        return got

    def per_snapshot(self, snapshot: object, name: str, compute: Callable[[], _T]) -> _T:
        """``compute()``, once per ``snapshot`` object and ``name`` (a diff asks for the same
        snapshot-wide fact once per node class); the entry keeps the snapshot alive."""
        key = (id(snapshot), name)
        hit = self._snapshots.get(key)
        if hit is None or hit[0] is not snapshot:
            if len(self._snapshots) >= 8:  # each entry keeps a snapshot alive
                self._snapshots.clear()
            hit = self._snapshots[key] = (snapshot, compute())
        # Entries are keyed by ``name``, and each name is only ever computed by one caller.
        return cast(_T, hit[1])

    def ids(self, eps: tuple[object, ...]) -> bytes:
        """The identities of ``eps`` packed into bytes (a tuple of ints would be one more
        object per endpoint for the garbage collector to visit)."""
        last = self._last_ids
        if last[0] is eps:
            return last[1]
        ids = array("Q", map(id, eps)).tobytes()
        self._last_ids = (eps, ids)
        return ids

    def store_block(self, key: CacheKey, value: Block) -> Block:
        """Store ``value`` under ``key`` in ``blocks`` (read with ``blocks.get``; the value's
        members keep alive what ``key`` names by identity)."""
        blocks = self.blocks
        if len(blocks) >= self.max_blocks:
            blocks.clear()
        blocks[key] = value
        return value

    def chunk(self, key: CacheKey, build: Callable[[], _T], eps: tuple[object, ...] = ()) -> _T:
        """The endpoint-side chunk for ``key`` and the endpoint tuple ``eps`` (by identity)."""
        last = self._last_ids
        full = (*key, last[1] if last[0] is eps else self.ids(eps))
        memo = self.memo
        hit = memo.get(full)
        if hit is None:
            if len(memo) >= self.max_memo:
                memo.clear()
            hit = memo[full] = (build(), eps)
        # ``key`` starts with the chunk kind, and each kind has one builder (one type).
        return cast(_T, hit[0])

    def last_names(self, eps: tuple[object, ...], key: CacheKey) -> list[tuple[str, str]] | None:
        """The previous ``remember_names`` answer when it was for this endpoint tuple and
        ``key``, else None (iptables: a port's dispatch chunk and SEP block walk one tuple)."""
        last = self._last_names
        return last[2] if last[0] is eps and last[1] == key else None

    def remember_names(
        self, eps: tuple[object, ...], key: CacheKey, names: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        self._last_names = (eps, key, names)  # one tuple swapped whole: no torn entry
        return names

    def last_bases(self, eps: tuple[object, ...], key: CacheKey) -> list[str] | None:
        """As ``last_names``, for the nftables endpoint name bases."""
        last = self._last_bases
        return last[2] if last[0] is eps and last[1] == key else None

    def remember_bases(self, eps: tuple[object, ...], key: CacheKey, bases: list[str]) -> list[str]:
        self._last_bases = (eps, key, bases)
        return bases
