"""violations_sync through its real trigger: Violations stream -> Pipe -> Express SM -> Iceberg."""

from __future__ import annotations

import json
import uuid
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from devkit.violations_sync import content_stream_record, seed_violations, violation_id
from schemas.violations_sync import UNMATCHED_TABLE, VIOLATIONS_TABLE
from sluice.testing import StackProcess, wait_for
from tasks.common.lake import catalog_from_env
from tasks.common.lake_sql import register_table

FLOW = "violations_sync"
SEEDED = 3000


@pytest.fixture(scope="module")
def lake(stack: StackProcess) -> dict[str, str]:
    env = {"LAKE_WAREHOUSE": str(stack.data_dir / "lake"), "LAKE_CATALOG_URI": ""}
    seed_violations(catalog_from_env(env), SEEDED, months=6, files_per_month=2)
    return env


def rows(
    lake: dict[str, str], table: str = VIOLATIONS_TABLE, vid: str | None = None
) -> dict[str, dict[str, Any]]:
    """The table's current rows by violation id (only VID's, if given). The tests poll
    this: registering only this table, not the whole lake, took the module from 20 CPU-s
    to 13."""
    con = duckdb.connect()
    register_table(con, catalog_from_env(lake).load_table(table))
    query = f"SELECT * FROM {table}" + (" WHERE violation_id = ?" if vid is not None else "")
    data: pa.Table = con.sql(query, params=[vid] if vid is not None else None).to_arrow_table()
    return {r["violation_id"]: r for r in data.to_pylist()}


def content(vid: str, **attrs: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"PK": {"S": f"VIOLATION#{vid}"}, "SK": {"S": "BEDROCK_CONTENT"}}
    item.update(attrs)
    return item


def put(stack: StackProcess, item: dict[str, Any]) -> None:
    table = stack.resource("ViolationsTable")["name"]
    stack.client("dynamodb").put_item(TableName=table, Item=item)


def title_of(lake: dict[str, str], vid: str) -> Any:
    return rows(lake, vid=vid).get(vid, {}).get("bedrock_title")


@pytest.mark.built
def test_put_modify_delete_change_the_lake_rows(stack: StackProcess, lake: dict[str, str]) -> None:
    before = rows(lake)
    vid = violation_id(11)
    put(
        stack,
        content(
            vid,
            title_bedrock={"S": "Forklift fine"},
            tags={"S": "safety"},
            generated_at={"S": "2026-11-01T10:00:00Z"},
            description_bedrock={"S": "A forklift incident."},
        ),
    )
    wait_for(lambda: title_of(lake, vid) == "Forklift fine", timeout=60, what="the merge")
    row = rows(lake)[vid]
    assert row["tags"] == ["safety"]  # a string tag becomes a one-element list
    assert row["bedrock_description"] == "A forklift incident."
    assert row["agency"] == before[vid]["agency"]  # the violation's own columns are kept

    put(
        stack,
        content(
            vid,
            title_bedrock={"S": "Forklift fine (revised)"},
            tags={"L": [{"S": "safety"}, {"S": "warehouse"}]},
        ),
    )
    wait_for(lambda: title_of(lake, vid) == "Forklift fine (revised)", what="the modify")
    assert rows(lake)[vid]["tags"] == ["safety", "warehouse"]

    table = stack.resource("ViolationsTable")["name"]
    stack.client("dynamodb").delete_item(
        TableName=table, Key={"PK": {"S": f"VIOLATION#{vid}"}, "SK": {"S": "BEDROCK_CONTENT"}}
    )
    wait_for(lambda: title_of(lake, vid) is None, what="REMOVE to clear the Bedrock columns")
    after = rows(lake)
    assert after[vid]["tags"] in ([], None)
    # Every other row is exactly as it was (an independent reference: the seeded rows).
    untouched = [v for v in before if v != vid]
    assert all(after[v] == before[v] for v in untouched)
    assert len(after) == SEEDED


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"S": "one"}, ["one"]),
        ({"L": [{"S": "a"}, {"S": "b"}]}, ["a", "b"]),
        (None, []),
        ({"NULL": True}, []),
    ],
)
def test_tags_edge_cases(
    stack: StackProcess, lake: dict[str, str], tags: dict[str, Any] | None, expected: list[str]
) -> None:
    vid = violation_id(100 + len(json.dumps(tags)))
    marker = f"tags {uuid.uuid4().hex[:6]}"
    attrs: dict[str, Any] = {"title_bedrock": {"S": marker}}
    if tags is not None:
        attrs["tags"] = tags
    put(stack, content(vid, **attrs))
    wait_for(lambda: title_of(lake, vid) == marker, timeout=60, what="the merge")
    assert rows(lake)[vid]["tags"] == expected


def test_two_versions_in_one_batch_keep_the_newest(
    stack: StackProcess, lake: dict[str, str]
) -> None:
    vid = violation_id(222)
    put(stack, content(vid, title_bedrock={"S": "first"}))
    put(stack, content(vid, title_bedrock={"S": "second"}))  # same 1 s window
    wait_for(lambda: title_of(lake, vid) == "second", timeout=60, what="the newest version")
    marker = violation_id(223)
    put(stack, content(marker, title_bedrock={"S": "later"}))
    wait_for(lambda: title_of(lake, marker) == "later", what="a later batch")
    assert title_of(lake, vid) == "second"


@pytest.mark.built
def test_unknown_violation_is_quarantined_and_counted(
    stack: StackProcess, lake: dict[str, str]
) -> None:
    vid = f"VIO-UNKNOWN-{uuid.uuid4().hex[:6]}"
    put(stack, content(vid, title_bedrock={"S": "orphan content"}))
    kept = wait_for(
        lambda: rows(lake, UNMATCHED_TABLE, vid).get(vid),
        timeout=60,
        what="the quarantined content",
    )
    assert kept["bedrock_title"] == "orphan content"
    assert vid not in rows(lake)
    runs = [stack.execution(e["executionArn"]) for e in stack.executions(FLOW)]
    assert any(
        r.output and vid in r.output.get("unmatched_ids", []) and r.output["quarantined"]
        for r in runs
    )


def test_poison_record_is_isolated_into_the_dlq_and_shown(
    stack: StackProcess, lake: dict[str, str]
) -> None:
    good, bad = violation_id(301), violation_id(302)
    put(stack, content(bad, generated_at={"S": "not a timestamp"}))
    put(stack, content(good, title_bedrock={"S": "fine content"}))
    dlq = stack.resource("ViolationsDLQ")["name"]

    def dead() -> list[dict[str, Any]]:
        return [m for m in stack.gateway.get(f"/_sluice/dlq/{dlq}") if bad in json.dumps(m)]

    [message] = wait_for(dead, timeout=90, what="the poison record in the DLQ")
    assert message["reason"]["error"] == "PoisonRecordError"
    # Retries used up: MaximumRetryAttempts (2 locally) after the first attempt of the
    # record's own batch, as AWS Pipes counts them.
    assert message["reason"]["condition"] == "RetryAttemptsExhausted"
    assert message["body"]["requestContext"]["approximateInvokeCount"] == 3
    assert [r["dynamodb"]["Keys"]["PK"]["S"] for r in message["body"]["records"]] == [
        f"VIOLATION#{bad}"
    ]  # bisecting kept the good record out of the DLQ
    wait_for(lambda: title_of(lake, good) == "fine content", what="the good record")
    listing = stack.cli("dlq", "list", dlq)
    assert "PoisonRecordError" in listing.stdout and "generated_at" in listing.stdout


def test_commit_conflict_is_retried_with_backoff(stack: StackProcess, lake: dict[str, str]) -> None:
    """The ASL's retry on LakeCommitConflict (the real conflict is in the unit tests)."""
    batch = [content_stream_record("VIO-00000400", 900, title="after a conflict")]
    execution = stack.run(FLOW, batch, test_case="MergeConflictOnce")
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    merge = execution.state("Merge")
    assert [a.error for a in merge.attempts] == ["LakeCommitConflict", None]
    assert merge.status == "retried"
    assert execution.output["updated"] == 1


def wait_until_caught_up(stack: StackProcess, lake: dict[str, str]) -> None:
    """A marker written now is merged only after every earlier record of the shard (retries
    and DLQ sends included), so a fault injected next meets only this test's batch."""
    marker, title = violation_id(400), f"marker {uuid.uuid4().hex[:6]}"
    put(stack, content(marker, title_bedrock={"S": title}))
    wait_for(lambda: title_of(lake, marker) == title, timeout=60, what="the marker's merge")


def runs_with(stack: StackProcess, vid: str) -> list[Any]:
    """The executions whose batch held VID, oldest first."""
    found = sorted(stack.executions(FLOW), key=lambda e: e["startDate"])
    runs = [stack.execution(e["executionArn"]) for e in found]
    return [r for r in runs if vid in json.dumps(r.input)]


def test_a_merge_timeout_fails_the_run_and_the_pipe_retries_the_batch(
    stack: StackProcess, lake: dict[str, str]
) -> None:
    wait_until_caught_up(stack, lake)
    stack.inject_fault("ViolationsMergeFunction", "Sandbox.Timedout")
    vid = violation_id(401)
    put(stack, content(vid, title_bedrock={"S": "after a timeout"}))
    wait_for(lambda: title_of(lake, vid) == "after a timeout", timeout=60, what="the retry")
    failed, retried = runs_with(stack, vid)
    assert failed.status == "FAILED" and failed.error == "Sandbox.Timedout"
    assert failed.state("Merge").status == "caught"
    assert retried.status == "SUCCEEDED" and retried.input == failed.input
    dlq = stack.resource("ViolationsDLQ")["name"]
    assert not [m for m in stack.gateway.get(f"/_sluice/dlq/{dlq}") if vid in json.dumps(m)]


def test_a_throttled_normalize_is_retried_in_the_run(
    stack: StackProcess, lake: dict[str, str]
) -> None:
    wait_until_caught_up(stack, lake)
    stack.inject_fault("ViolationsNormalizeFunction", "Lambda.TooManyRequestsException", count=2)
    vid = violation_id(402)
    with stack.time_scale(0):
        put(stack, content(vid, title_bedrock={"S": "after throttles"}))
        wait_for(lambda: title_of(lake, vid) == "after throttles", timeout=60, what="the merge")
    # The run that met the throttles retried them itself and succeeded (on a loaded machine
    # the Pipe may have started another run of the batch for an unrelated reason).
    throttle = "Lambda.TooManyRequestsException"
    attempts = [
        (r, [a.error for a in r.state("Normalize").attempts]) for r in runs_with(stack, vid)
    ]
    [(run, errors)] = [(r, e) for r, e in attempts if throttle in e]
    assert run.status == "SUCCEEDED"
    assert errors == [throttle] * 2 + [None]
