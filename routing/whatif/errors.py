"""Engine refusals as request errors: the one translation of an engine error's ``field``.

The engine names the input at fault in its own vocabulary (``routing.engine.errors``); a
request names it in the request's: ``set.internalTrafficPolicy`` in a simulate body,
``changes.services.shop/web.internalTrafficPolicy`` in a stored scenario. ``request_error``
is the only place that maps one onto the other; the API turns the result into its 400
(``routing.api.errors``), the pages into a form message and the CLI into one line, exit 2.
"""

from __future__ import annotations

from core.api.errors import RequestInputError
from routing.engine.errors import INVALID, EngineError, ScenarioError
from routing.engine.kube import SnapshotError

#: Where an error sits: a simulate question (API body / CLI flags) or a stored scenario.
SIMULATE, CHANGES = "simulate", "changes"

#: Snapshot override -> the simulate request field that carried it.
_SNAPSHOT_FIELDS = {"version": "kube_version", "node_proxy_modes": "node_proxy_modes"}


class InputError(RequestInputError):
    """Input the engine cannot answer: one line, the request ``field`` at fault, a ``code``."""

    def __init__(self, message: str, *, field: str | None = None, code: str = INVALID) -> None:
        super().__init__(" ".join(str(message).split()))
        self.field = field
        self.code = code


def request_error(error: EngineError, *, context: str = SIMULATE) -> InputError:
    """``error`` with its field spelled as the request (``context``) spells it."""
    return InputError(error.message, field=request_field(error, context=context), code=error.code)


def request_field(error: EngineError, *, context: str = SIMULATE) -> str | None:
    """The request field at fault for an engine error raised in ``context``."""
    if isinstance(error, SnapshotError):
        return _SNAPSHOT_FIELDS.get(error.field or "", "cluster_dump")
    if context == CHANGES:
        return f"changes.{error.field}" if error.field else "changes"
    if isinstance(error, ScenarioError):
        # A question carries one Service's overrides as "set" and the cluster-wide ones
        # under their own names.
        named = error.service_field
        if named is not None:
            return f"set.{named}"
        # "services": the question's Service itself is unknown.
        return "service" if error.field == "services" else error.field
    return error.field
