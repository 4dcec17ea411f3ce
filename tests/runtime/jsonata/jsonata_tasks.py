"""Task handlers for the JSONata conformance machines (not a flow)."""

from __future__ import annotations

from typing import Any


class OrderRejected(Exception):
    """Raised on purpose so Catch and `$states.errorOutput` can be checked."""


def echo(event: Any, context: Any) -> Any:
    return event


def reject(event: Any, context: Any) -> Any:
    raise OrderRejected(f"order {event.get('id')} rejected")
