"""Handlers for the AWS-parity tests."""

from typing import Any


def big(event: dict[str, Any], context: Any) -> dict[str, str]:
    """A result of `event["bytes"]` characters (plus the JSON around them)."""
    return {"blob": "x" * int(event["bytes"])}
