"""The example flow's task (a Lambda handler: it imports nothing of the devkit)."""

from __future__ import annotations

from typing import Any


def greet(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"greeting": f"hello, {event['name']}"}
