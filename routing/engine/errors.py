"""Engine error types: every refusal names the input at fault and why, as data.

``field`` is a dotted path in the engine's own vocabulary, never a guess from the text:

- a question: ``service``, ``port``, ``source``, ``to``;
- a scenario: the key of its JSON form (``proxy_mode``, ``nodes_down``, ``scale`` …) or, for
  a Service field, ``services.<namespace/name>.<field>`` (``ScenarioError.service_field``
  gives the field alone, e.g. ``internalTrafficPolicy``).

``code`` is a stable machine word: ``invalid`` (malformed), ``invalid_choice`` (not one of
the allowed values), ``unknown`` (names a Service, node, port or field that does not
exist), ``unsupported_release`` (the cluster's release does not have the value yet) and
``not_applicable`` (the value exists but cannot apply here, e.g. an lb source on a
ClusterIP Service). Adapters outside the engine turn these into an HTTP 400 or a CLI
exit 2 in one place each (``routing.whatif.errors``).
"""

from __future__ import annotations

INVALID = "invalid"
INVALID_CHOICE = "invalid_choice"
UNKNOWN = "unknown"
UNSUPPORTED_RELEASE = "unsupported_release"
NOT_APPLICABLE = "not_applicable"


class EngineError(ValueError):
    """Input the engine refuses: one line of text, the ``field`` at fault and a ``code``."""

    def __init__(self, message: str, *, field: str | None = None, code: str = INVALID) -> None:
        super().__init__(message)
        self.field = field
        self.code = code

    @property
    def message(self) -> str:
        """The text on one line."""
        return " ".join(str(self).split())


class ScenarioError(EngineError):
    """A scenario that cannot apply (which field, which value, what is allowed)."""

    @property
    def service_field(self) -> str | None:
        """For ``services.<key>.<field>`` errors, ``<field>``; else None."""
        if self.field and self.field.startswith("services."):
            rest = self.field[len("services.") :]
            # The key holds one "/" and no "."; the field name may hold dots.
            namespace, _, tail = rest.partition("/")
            _name, dot, name = tail.partition(".")
            return name if dot else None
        return None


class QuestionError(EngineError):
    """A question the snapshot cannot answer (unknown service/port/node, bad source or dest)."""
