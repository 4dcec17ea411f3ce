"""The cost bench's billing rules: transitions from a history, DynamoDB item sizes."""

from __future__ import annotations

from typing import Any

from bench.cost_bench import billed_transitions, dynamodb_item_size


def _events(*kinds: tuple[str, int]) -> list[dict[str, Any]]:
    """(type, previousEventId) pairs, ids from 1."""
    return [
        {"id": i, "type": kind, "previousEventId": previous}
        for i, (kind, previous) in enumerate(kinds, start=1)
    ]


def test_interleaved_parallel_branches_are_not_retries() -> None:
    history = _events(
        ("ExecutionStarted", 0),
        ("ParallelStateEntered", 1),
        ("ParallelStateStarted", 2),
        ("TaskStateEntered", 3),  # branch A
        ("TaskStateEntered", 3),  # branch B
        ("TaskScheduled", 4),
        ("TaskScheduled", 5),
        ("TaskSucceeded", 6),
        ("TaskSucceeded", 7),
        ("TaskStateExited", 8),
        ("TaskStateExited", 9),
        ("ParallelStateSucceeded", 11),
        ("ParallelStateExited", 12),
        ("SucceedStateEntered", 13),
        ("ExecutionSucceeded", 14),
    )
    assert billed_transitions(history) == (4, 0)


def test_each_retry_is_one_more_transition() -> None:
    history = _events(
        ("ExecutionStarted", 0),
        ("TaskStateEntered", 1),
        ("LambdaFunctionScheduled", 2),
        ("LambdaFunctionFailed", 3),
        ("LambdaFunctionScheduled", 4),  # retry 1
        ("LambdaFunctionTimedOut", 5),
        ("LambdaFunctionScheduled", 6),  # retry 2
        ("LambdaFunctionSucceeded", 7),
        ("TaskStateExited", 8),
        ("ExecutionSucceeded", 9),
    )
    assert billed_transitions(history) == (3, 2)


def test_item_size_follows_dynamodbs_rule() -> None:
    assert dynamodb_item_size({"PK": {"S": "abc"}}) == 2 + 3
    assert dynamodb_item_size({"n": {"N": "12345"}}) == 1 + 4  # 5 digits: 3 + 1
    assert dynamodb_item_size({"ok": {"BOOL": True}}) == 2 + 1
    # a list: 3 bytes, plus each element and one byte per element
    assert dynamodb_item_size({"l": {"L": [{"S": "ab"}, {"S": "c"}]}}) == 1 + 3 + (2 + 1) + (1 + 1)
