"""Walking ASL definitions: the states of one level, every state at any depth, and an outline
of which states sit in which Parallel branch or Map item processor.

Containers (Parallel, Map) hold sub-machines: a Parallel's ``Branches``, a Map's
``ItemProcessor`` (``Iterator`` in older definitions). Malformed parts (a state or branch that
is not an object) are skipped, keeping the indexes of the branches around them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

CONTAINERS = ("Parallel", "Map")
JSONPATH, JSONATA = "JSONPath", "JSONata"

Spec = Mapping[str, Any]


def document(definition: str | Mapping[str, Any]) -> Mapping[str, Any]:
    """The definition as a JSON object (parsed when given as text)."""
    parsed = json.loads(definition) if isinstance(definition, str) else definition
    if not isinstance(parsed, Mapping):
        raise ValueError("a state machine definition is a JSON object")
    return parsed


def level(machine: Mapping[str, Any]) -> list[tuple[str, Spec]]:
    """(name, spec) of the states of one machine level, in definition order."""
    states = machine.get("States")
    if not isinstance(states, Mapping):
        return []
    return [(name, spec) for name, spec in states.items() if isinstance(spec, Mapping)]


def branches(spec: Spec) -> list[Mapping[str, Any]]:
    """A Parallel state's branches, in order (``{}`` for one that is not an object)."""
    if spec.get("Type") != "Parallel":
        return []
    return [b if isinstance(b, Mapping) else {} for b in spec.get("Branches") or []]


def processor(spec: Spec) -> Mapping[str, Any]:
    """A Map state's item processor (``{}`` when it has none)."""
    if spec.get("Type") != "Map":
        return {}
    inner = spec.get("ItemProcessor") or spec.get("Iterator")
    return inner if isinstance(inner, Mapping) else {}


def sub_machines(spec: Spec) -> list[Mapping[str, Any]]:
    """The machines a container state runs: Parallel branches or the Map item processor."""
    return branches(spec) if spec.get("Type") == "Parallel" else [processor(spec)]


def walk(machine: Mapping[str, Any]) -> Iterator[tuple[str, Spec]]:
    """Every (name, spec) of a definition, depth first, in definition order."""
    for name, spec in level(machine):
        yield name, spec
        if spec.get("Type") in CONTAINERS:
            for inner in sub_machines(spec):
                yield from walk(inner)


@dataclass
class Outline:
    """Where every state of a definition sits, by name."""

    states: dict[str, Spec] = field(default_factory=dict)
    root: list[str] = field(default_factory=list)
    branches: dict[str, list[list[str]]] = field(default_factory=dict)  # Parallel -> names
    processors: dict[str, list[str]] = field(default_factory=dict)  # Map -> names
    query_languages: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, definition: str | Mapping[str, Any] | None) -> Outline:
        """The outline of ``definition``; an empty one without a definition."""
        outline = cls()
        if definition is not None:
            outline.root = outline._add(document(definition), JSONPATH)
        return outline

    def _add(self, machine: Mapping[str, Any], inherited: str) -> list[str]:
        language = str(machine.get("QueryLanguage") or inherited)
        names = []
        for name, spec in level(machine):
            names.append(name)
            self.states[name] = spec
            own = str(spec.get("QueryLanguage") or language)
            self.query_languages[name] = own
            if spec.get("Type") == "Parallel":
                self.branches[name] = [self._add(b, own) for b in branches(spec)]
            elif spec.get("Type") == "Map":
                self.processors[name] = self._add(processor(spec), own)
        return names

    def type_of(self, name: str) -> str:
        kind = self.states.get(name, {}).get("Type")
        return kind if isinstance(kind, str) else "Unknown"

    def query_language(self, name: str) -> str:
        return self.query_languages.get(name, JSONPATH)

    def fail_error(self, name: str) -> tuple[str | None, str | None]:
        """A Fail state's declared Error and Cause."""
        spec = self.states.get(name, {})
        error, cause = spec.get("Error"), spec.get("Cause")
        return (
            error if isinstance(error, str) else None,
            cause if isinstance(cause, str) else None,
        )

    def branch_index(self, parallel: str, first_state: str) -> int | None:
        """Which branch of ``parallel`` holds ``first_state``."""
        for index, names in enumerate(self.branches.get(parallel, [])):
            if first_state in names:
                return index
        return None
