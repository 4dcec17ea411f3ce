"""The coverage items of a state machine definition: its states, Choice branches, Retry and
Catch entries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sluice.asl.definition import document, walk
from sluice.asl.edges import catchers, retriers, transitions

ItemKind = Literal["state", "choice", "retry", "catch"]
KINDS: tuple[ItemKind, ...] = ("state", "choice", "retry", "catch")
KIND_TITLES: dict[ItemKind, str] = {
    "state": "states",
    "choice": "choice branches",
    "retry": "retries",
    "catch": "catches",
}


@dataclass(frozen=True)
class Item:
    """One path through a state machine that a test can exercise."""

    kind: ItemKind
    state: str
    index: int | None = None  # rule / retrier / catcher index; None for states and Default
    errors: tuple[str, ...] = ()  # Retry/Catch ErrorEquals
    next: str | None = None  # Choice rule / Default / Catch target

    @property
    def key(self) -> str:
        if self.kind == "state":
            return f"state:{self.state}"
        slot = "Default" if self.index is None else str(self.index)
        return f"{self.kind}:{self.state}#{slot}"

    @property
    def label(self) -> str:
        if self.kind == "state":
            return f"state {self.state}"
        if self.kind == "choice":
            rule = "Default" if self.index is None else f"rule {self.index}"
            return f"choice {self.state} {rule} -> {self.next}"
        errors = ", ".join(self.errors)
        if self.kind == "retry":
            return f"retry {self.state} Retry[{self.index}] ({errors})"
        return f"catch {self.state} Catch[{self.index}] ({errors}) -> {self.next}"


def machine_items(definition: str | Mapping[str, Any]) -> list[Item]:
    """The coverage items of one definition, in definition order."""
    items: list[Item] = []
    for name, spec in walk(document(definition)):
        items.append(Item("state", name))
        if spec.get("Type") == "Choice":
            items += [
                Item("choice", name, edge.index, next=edge.target)
                for edge in transitions(spec)
                if edge.kind in ("choice", "default")
            ]
        items += [Item("retry", name, r.index, errors=r.errors) for r in retriers(spec)]
        items += [
            Item("catch", name, c.index, errors=c.errors, next=c.next) for c in catchers(spec)
        ]
    return items
