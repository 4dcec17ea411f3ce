"""The violations_sync ASL: valid for moto's engine, and correct when it runs there.

Executions run the definition on the embedded engine in this process
(`sluice.testing.in_process_aws`) with the real task handlers against a SQLite-catalog lake
in a temporary directory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asl_checks import FlowAsl, assert_engine_parses

from devkit.violations_sync import content_stream_record, seed_violations, violation_id
from sluice.in_process import InProcessAws
from sluice.testing import in_process_aws
from tasks.common.lake import LakeCommitConflict, catalog_from_env
from tasks.common.lake_sql import duckdb_connection
from tasks.violations_sync import merge, normalize

ASL = FlowAsl(
    "violations_sync",
    {
        "NormalizeFunctionArn": InProcessAws.function_arn("Normalize"),
        "MergeFunctionArn": InProcessAws.function_arn("Merge"),
    },
)
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
}


def test_placeholders_are_exactly_the_definition_substitutions() -> None:
    ASL.assert_placeholders()


def test_definition_is_jsonpath_with_the_retries_the_flow_needs() -> None:
    document = ASL.document()
    states = document["States"]
    assert "QueryLanguage" not in document
    assert document["StartAt"] == "Normalize"
    assert states["Normalize"]["Next"] == "Merge"
    assert states["Merge"]["End"] is True

    conflict = states["Merge"]["Retry"][0]
    assert conflict["ErrorEquals"] == ["LakeCommitConflict"]
    assert conflict["IntervalSeconds"] >= 1
    assert conflict["BackoffRate"] == 2
    assert 3 <= conflict["MaxAttempts"] <= 6
    assert conflict["JitterStrategy"] == "FULL"
    assert conflict["MaxDelaySeconds"] >= conflict["IntervalSeconds"]

    for name in ("Normalize", "Merge"):
        state = states[name]
        assert state["Resource"] == "arn:aws:states:::lambda:invoke"
        retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
        assert LAMBDA_ERRORS | {"Lambda.TooManyRequestsException"} <= retried
        # Bad input is never retried: only the retriers above exist.
        assert "PoisonRecordError" not in retried
        assert "States.ALL" not in retried
        assert state["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$", "Next": "BatchFailed"}
        ]
        for retrier in state["Retry"]:
            assert retrier["IntervalSeconds"] >= 1
    assert states["BatchFailed"]["Type"] == "Fail"


@dataclass
class Stack:
    aws: InProcessAws
    machine_arn: str

    @property
    def calls(self) -> list[tuple[str, Any]]:
        return self.aws.calls

    def run(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self.aws.run(self.machine_arn, records)


def _conflicting_once(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    attempts: list[int] = []

    def conflicting(event: Any, context: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise LakeCommitConflict("silver.violations: Table has been updated by another process")
        return handler(event, context)

    return conflicting


@pytest.fixture
def handlers(request: pytest.FixtureRequest) -> dict[str, Callable[[Any, Any], Any]]:
    if getattr(request, "param", None) == "conflict-once":
        return {"Normalize": normalize.handler, "Merge": _conflicting_once(merge.handler)}
    return {"Normalize": normalize.handler, "Merge": merge.handler}


@pytest.fixture
def stack(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    handlers: dict[str, Callable[[Any, Any], Any]],
) -> Iterator[Stack]:
    monkeypatch.setenv("LAKE_WAREHOUSE", str(tmp_path / "lake"))
    monkeypatch.delenv("LAKE_CATALOG_URI", raising=False)
    with in_process_aws(handlers) as aws:
        seed_violations(catalog_from_env(), 2_000, months=2, files_per_month=2)
        yield Stack(aws, aws.create_state_machine("violations-sync", ASL.definition()))


def test_engine_accepts_the_definition_and_rejects_a_broken_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert_engine_parses(monkeypatch, ASL.definition(), "violations-sync", "Merge", 0)


def test_batch_merges_and_outputs_the_summary(stack: Stack) -> None:
    records = [
        content_stream_record(violation_id(1), 10**20 + 1, title="old"),
        content_stream_record(violation_id(1), 10**20 + 2, "MODIFY", title="new"),
        content_stream_record(violation_id(2), 10**20 + 3, tags="one"),
        content_stream_record("NOT-IN-LAKE", 10**20 + 4),
    ]
    execution = stack.run(records)

    assert execution["status"] == "SUCCEEDED", execution
    summary = json.loads(execution["output"])
    assert summary["records"] == 4
    assert summary["superseded"] == 1
    assert summary["updated"] == 2
    assert summary["quarantined"] == 1
    assert summary["unmatched_ids"] == ["NOT-IN-LAKE"]
    assert summary["snapshot_id"] is not None
    con = duckdb_connection(catalog_from_env())
    rows = con.sql(
        "SELECT violation_id, bedrock_title, tags FROM silver.violations "
        f"WHERE violation_id IN ('{violation_id(1)}', '{violation_id(2)}') ORDER BY 1"
    ).fetchall()
    assert rows == [(violation_id(1), "new", ["tag"]), (violation_id(2), "AI title", ["one"])]
    held = con.sql("SELECT violation_id, reason FROM silver.violations_unmatched").fetchall()
    assert held == [("NOT-IN-LAKE", "no row in silver.violations")]


def test_poison_record_fails_the_execution_without_retry(stack: Stack) -> None:
    bad = content_stream_record(violation_id(1), 10**20 + 1)
    bad["dynamodb"]["NewImage"]["generated_at"] = {"S": "yesterday"}

    execution = stack.run([content_stream_record(violation_id(2), 10**20 + 2), bad])

    assert execution["status"] == "FAILED"
    assert execution["error"] == "PoisonRecordError"
    assert "record 1" in execution["cause"] and "generated_at" in execution["cause"]
    assert [name for name, _ in stack.calls] == ["Normalize"]


@pytest.mark.parametrize("handlers", ["conflict-once"], indirect=True)
def test_commit_conflict_is_retried_then_succeeds(stack: Stack) -> None:
    execution = stack.run([content_stream_record(violation_id(5), 10**20 + 5)])

    assert execution["status"] == "SUCCEEDED", execution
    assert [name for name, _ in stack.calls] == ["Normalize", "Merge", "Merge"]
    assert json.loads(execution["output"])["updated"] == 1
