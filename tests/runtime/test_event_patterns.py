"""EventBridge event patterns as the runtime matches them (moto's matcher, reading a plain
JSON event in place instead of a JSON copy of it), against the content filtering that
EventBridge documents ("Event patterns" and "Content filtering in event patterns")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from sluice.engine import moto_seam

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "carousel.product.sold",
    "source": "carousel.sales",
    "account": "123456789012",
    "time": "2024-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:s3:::a", "arn:aws:s3:::b"],
    "detail": {
        "tenantId": "tenant-a",
        "salePrice": 120.5,
        "tags": ["vintage", "leather"],
        "embedding": [i / 1024 for i in range(1024)],
        "seller": {"vendorId": "VENDOR-701"},
    },
}

# (pattern, matches EVENT): each row one documented rule of matching.
CASES: list[tuple[dict[str, Any], bool]] = [
    ({"source": ["carousel.sales"]}, True),  # a field equals one of the values
    ({"source": ["other"]}, False),
    ({"source": ["carousel.sales"], "detail-type": ["other"]}, False),  # every field must match
    ({"detail": {"seller": {"vendorId": ["VENDOR-701"]}}}, True),  # nested fields
    ({"resources": ["arn:aws:s3:::b"]}, True),  # an array in the event: any element
    ({"detail": {"tags": ["new", "leather"]}}, True),
    ({"detail": {"tags": ["new"]}}, False),
    ({"detail": {"tenantId": [{"prefix": "tenant-"}]}}, True),
    ({"detail": {"salePrice": [{"numeric": [">", 100, "<=", 120.5]}]}}, True),
    ({"detail": {"salePrice": [{"numeric": ["<", 100]}]}}, False),
    ({"detail": {"discount": [{"exists": False}]}}, True),
    ({"detail": {"discount": [{"exists": True}]}}, False),
    ({"detail": {"tenantId": [{"anything-but": ["tenant-b"]}]}}, True),
    ({"detail": {"tenantId": ["tenant-b"]}, "source": ["carousel.sales"]}, False),
    ({"$or": [{"source": ["other"]}, {"detail": {"tags": ["vintage"]}}]}, True),
]


@pytest.fixture(scope="module", autouse=True)
def runtime_patterns() -> None:
    moto_seam.install()


def _as_tuples(value: Any) -> Any:
    """VALUE with every list a tuple: not JSON's own types, as a Python caller may build."""
    if isinstance(value, dict):
        return {k: _as_tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_as_tuples(v) for v in value)
    return value


@pytest.mark.parametrize(("pattern", "expected"), CASES)
def test_a_pattern_matches_as_eventbridge_documents(
    pattern: dict[str, Any], expected: bool
) -> None:
    matcher = EventPattern.load(json.dumps(pattern))
    assert matcher.matches_event(EVENT) is expected
    # The same event built of tuples is matched as its JSON (an array) would be.
    assert matcher.matches_event(_as_tuples(EVENT)) is expected


def test_matching_leaves_the_event_as_it_was() -> None:
    event = json.loads(json.dumps(EVENT))
    for pattern, _ in CASES:
        EventPattern.load(json.dumps(pattern)).matches_event(event)
    assert event == EVENT
