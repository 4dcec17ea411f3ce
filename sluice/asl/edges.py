"""The ways out of a state (Next, Choice rules, Default, Catch) and its Retry entries.

Error matching follows Step Functions: ``States.ALL`` matches every error but
``States.Runtime`` and ``States.DataLimitExceeded``; ``States.TaskFailed`` matches the same
except ``States.Timeout``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sluice.asl.definition import Spec

EdgeKind = Literal["choice", "default", "next", "catch"]
_UNCATCHABLE_BY_ALL = frozenset({"States.Runtime", "States.DataLimitExceeded"})


@dataclass(frozen=True)
class Handler:
    """One Retry or Catch entry of a state (``next`` for Catch only)."""

    index: int
    errors: tuple[str, ...]
    next: str | None = None


@dataclass(frozen=True)
class Transition:
    """One way out of a state. ``index`` numbers Choice rules and catchers; ``rule`` is the
    Choice rule (empty for the other kinds). ``target`` is None when the definition names no
    state there."""

    kind: EdgeKind
    target: str | None
    index: int | None = None
    errors: tuple[str, ...] = ()
    rule: Mapping[str, Any] = field(default_factory=dict)


def _name(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _errors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    errors = entry.get("ErrorEquals")
    return tuple(str(e) for e in errors) if isinstance(errors, list) else ()


def _handlers(spec: Spec, key: str) -> list[Handler]:
    return [
        Handler(index, _errors(entry), _name(entry.get("Next")))
        for index, entry in enumerate(spec.get(key) or [])
        if isinstance(entry, Mapping)
    ]


def retriers(spec: Spec) -> list[Handler]:
    return _handlers(spec, "Retry")


def catchers(spec: Spec) -> list[Handler]:
    return _handlers(spec, "Catch")


def choice_rules(spec: Spec) -> list[Mapping[str, Any]]:
    """A Choice state's rules by index (``{}`` for one that is not an object)."""
    return [r if isinstance(r, Mapping) else {} for r in spec.get("Choices") or []]


def transitions(spec: Spec) -> list[Transition]:
    """Every way out of a state, in definition order: Choice rules, Default, Next, catchers."""
    out = [
        Transition("choice", _name(rule.get("Next")), index, rule=rule)
        for index, rule in enumerate(choice_rules(spec))
    ]
    if "Default" in spec:
        out.append(Transition("default", _name(spec.get("Default"))))
    if "Next" in spec:
        out.append(Transition("next", _name(spec.get("Next"))))
    out += [Transition("catch", c.next, c.index, c.errors) for c in catchers(spec)]
    return out


def error_matches(error_equals: Sequence[str], error: str) -> bool:
    """Whether a Retry/Catch ``ErrorEquals`` matches ``error`` (Step Functions' rules)."""
    for name in error_equals:
        if name == error:
            return True
        if name == "States.ALL" and error not in _UNCATCHABLE_BY_ALL:
            return True
        if name == "States.TaskFailed" and error not in {*_UNCATCHABLE_BY_ALL, "States.Timeout"}:
            return True
    return False


def first_matching(handlers: Sequence[Handler], error: str) -> Handler | None:
    """The entry that handles ``error``: the first whose ErrorEquals matches it."""
    return next((h for h in handlers if error_matches(h.errors, error)), None)
