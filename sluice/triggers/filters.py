"""EventBridge-pattern filtering for pipe / event-source-mapping FilterCriteria.

Matching is moto's EventBridge matcher, so local filters and moto's rules agree. AWS
semantics layered on top: patterns are ORed, an empty list passes everything, and for SQS
records a pattern on ``body`` sees the JSON-decoded body when the body is valid JSON.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from moto.events.models import EventPattern

Pattern = Mapping[str, Any] | str


def compile_pattern(pattern: Pattern) -> EventPattern:
    """Parse and validate one pattern (dict or JSON text, as in FilterCriteria.Filters[].Pattern).

    Raises moto's InvalidEventPatternException for patterns AWS would reject.
    """
    raw = pattern if isinstance(pattern, str) else json.dumps(pattern)
    return EventPattern.load(raw)


class RecordFilter:
    """Pre-compiled OR of up to five patterns."""

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self._patterns = [compile_pattern(p) for p in patterns]

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def matches(self, record: Mapping[str, Any]) -> bool:
        if not self._patterns:
            return True
        view = _filter_view(record)
        return any(p.matches_event(view) for p in self._patterns)


def matches(patterns: Sequence[Pattern], record: Mapping[str, Any]) -> bool:
    """True if ``record`` matches any of ``patterns`` (or there are none)."""
    return RecordFilter(patterns).matches(record)


def _filter_view(record: Mapping[str, Any]) -> Any:
    view = dict(record)
    body = view.get("body")
    if view.get("eventSource") == "aws:sqs" and isinstance(body, str):
        # A plain-text body stays a string and patterns match it as such.
        with contextlib.suppress(ValueError):
            view["body"] = json.loads(body)
    return view
