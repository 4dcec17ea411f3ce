"""Small formatting helpers shared by the CLI and the demo."""

from __future__ import annotations

import json
from typing import Any


def lambda_error(cause: Any) -> tuple[str, list[str]] | None:
    """(errorMessage, stack trace lines) of a Lambda function's error payload, as Step
    Functions and the pipes put it in a failure's cause; None for any other cause."""
    try:
        doc = json.loads(cause)
    except (TypeError, ValueError):
        return None
    if not isinstance(doc, dict) or "errorMessage" not in doc:
        return None
    trace = doc.get("stackTrace") or []
    items = trace if isinstance(trace, list) else [trace]
    lines = [line for item in items for line in str(item).rstrip("\n").splitlines()]
    return str(doc["errorMessage"]), lines


def cause_message(cause: Any, trace: bool = False) -> str:
    """A Lambda failure's cause is its JSON error payload; people want its message (and,
    with TRACE, the stack trace below it)."""
    error = lambda_error(cause)
    if error is None:
        return str(cause)
    message, stack = error
    return "\n".join([message, *stack]) if trace and stack else message
