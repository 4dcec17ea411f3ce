"""Tiny tasks for the redrive tests: each records its calls; `second` fails until fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class NotFixedYet(Exception):
    """Raised by `second` until the test creates the `fixed` file."""


def _record(event: dict[str, Any], step: str) -> int:
    calls = Path(event["dir"]) / f"{step}.calls"
    with calls.open("a") as f:
        f.write("x")
    return len(calls.read_text())


def first(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"step": "first", "calls": _record(event, "first")}


def second(event: dict[str, Any], context: Any) -> dict[str, Any]:
    calls = _record(event, "second")
    if not (Path(event["dir"]) / "fixed").exists():
        raise NotFixedYet(f"second step is not fixed yet (call {calls})")
    return {"step": "second", "calls": calls}


def third(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"step": "third", "calls": _record(event, "third"), "seen": event.get("seen")}
