"""Validation errors as people read them: every failing field named with its message."""

from __future__ import annotations

from pydantic import ValidationError


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """`{"field": "a.b.0", "message": …}` per error (the API's 400 body uses these)."""
    return [
        {
            "field": ".".join(str(p) for p in err["loc"]) or "<root>",
            "message": err["msg"].removeprefix("Value error, "),
        }
        for err in exc.errors(include_url=False)
    ]


def describe_validation_error(exc: ValidationError) -> str:
    """`field.path: message` for every error, so a failed step names what is wrong."""
    return "; ".join(f"{e['field']}: {e['message']}" for e in field_errors(exc))
