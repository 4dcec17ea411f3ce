"""Execution-history summaries, checked against histories captured from moto's ASL engine.

The fixtures under ``histories`` are real ``GetExecutionHistory`` output. Regenerate
them (about 10 s) with::

    .venv/bin/python tests/runtime/test_history.py
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sluice.history import (
    ExecutionStory,
    StateRun,
    failed_state,
    iter_runs,
    state_statuses,
    summarize,
)
from sluice.render_history import pretty_payload, render

FIXTURES = Path(__file__).parent / "histories"
REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/sluice-history-fixtures"
TABLE = "ledger"

Events = list[dict[str, Any]]

_PUT_UNIQUE: dict[str, Any] = {
    "Type": "Task",
    "Resource": "arn:aws:states:::dynamodb:putItem",
    "Parameters": {
        "TableName": TABLE,
        "Item": {"pk": {"S.$": "$.pk"}},
        "ConditionExpression": "attribute_not_exists(pk)",
    },
}

SUCCESS_PLAIN: dict[str, Any] = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {
            "Type": "Pass",
            "Parameters": {"pk.$": "$.id", "kind.$": "$.kind"},
            "Next": "Route",
        },
        "Route": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.kind", "StringEquals": "order", "Next": "Pause"}],
            "Default": "Ignore",
        },
        "Ignore": {"Type": "Pass", "Next": "Done"},
        "Pause": {"Type": "Wait", "Seconds": 0, "Next": "Save"},
        "Save": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:putItem",
            "Parameters": {"TableName": TABLE, "Item": {"pk": {"S.$": "$.pk"}}},
            "ResultPath": None,
            "Next": "Load",
        },
        "Load": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:getItem",
            "Parameters": {"TableName": TABLE, "Key": {"pk": {"S.$": "$.pk"}}},
            "ResultPath": "$.loaded",
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}

# BackoffRate 1 keeps the two retries at 1 s each.
RESERVE: dict[str, Any] = {
    "StartAt": "Reserve",
    "States": {
        "Reserve": {
            **_PUT_UNIQUE,
            "Retry": [
                {
                    "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 2,
                    "BackoffRate": 1,
                }
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Conflict"}],
            "Next": "Done",
        },
        "Conflict": {"Type": "Pass", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}

PARALLEL_FAILURE: dict[str, Any] = {
    "StartAt": "Fanout",
    "States": {
        "Fanout": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Audit",
                    "States": {
                        "Audit": {"Type": "Pass", "Next": "Settle"},
                        "Settle": {"Type": "Wait", "Seconds": 0, "End": True},
                    },
                },
                {
                    "StartAt": "Claim",
                    "States": {
                        "Claim": {
                            **_PUT_UNIQUE,
                            "Retry": [
                                {
                                    "ErrorEquals": ["States.ALL"],
                                    "IntervalSeconds": 1,
                                    "MaxAttempts": 1,
                                }
                            ],
                            "Next": "Confirm",
                        },
                        "Confirm": {"Type": "Pass", "End": True},
                    },
                },
            ],
            "Next": "Publish",
        },
        "Publish": {"Type": "Pass", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}

MAP_FAILURE: dict[str, Any] = {
    "StartAt": "Batch",
    "States": {
        "Batch": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Check",
                "States": {
                    "Check": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.qty", "NumericLessThan": 0, "Next": "Reject"}],
                        "Default": "Hold",
                    },
                    "Hold": {"Type": "Wait", "Seconds": 1, "Next": "Accept"},
                    "Accept": {"Type": "Pass", "End": True},
                    "Reject": {
                        "Type": "Fail",
                        "Error": "Item.Invalid",
                        "Cause": "negative quantity",
                    },
                },
            },
            "Next": "Report",
        },
        "Report": {"Type": "Pass", "End": True},
    },
}

PARALLEL_CAUGHT: dict[str, Any] = {
    "StartAt": "Enrich",
    "States": {
        "Enrich": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Lookup",
                    "States": {
                        "Lookup": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::dynamodb:getItem",
                            "Parameters": {"TableName": TABLE, "Key": {"pk": {"S.$": "$.pk"}}},
                            "End": True,
                        }
                    },
                },
                {
                    "StartAt": "Validate",
                    "States": {
                        "Validate": {
                            "Type": "Choice",
                            "Choices": [
                                {"Variable": "$.valid", "BooleanEquals": True, "Next": "Valid"}
                            ],
                            "Default": "Invalid",
                        },
                        "Valid": {"Type": "Pass", "End": True},
                        "Invalid": {
                            "Type": "Fail",
                            "Error": "Validation.Failed",
                            "Cause": "record is not valid",
                        },
                    },
                },
            ],
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Quarantine"}
            ],
            "Next": "Done",
        },
        "Quarantine": {"Type": "Pass", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}

NESTED_RUNNING: dict[str, Any] = {
    "StartAt": "Outer",
    "States": {
        "Outer": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Shards",
                    "States": {
                        "Shards": {
                            "Type": "Map",
                            "ItemsPath": "$.shards",
                            "ItemProcessor": {
                                "StartAt": "Sleep",
                                "States": {
                                    "Sleep": {"Type": "Wait", "Seconds": 1, "Next": "Tag"},
                                    "Tag": {"Type": "Pass", "End": True},
                                },
                            },
                            "End": True,
                        }
                    },
                },
                {"StartAt": "Note", "States": {"Note": {"Type": "Pass", "End": True}}},
            ],
            "Next": "Finish",
        },
        "Finish": {"Type": "Succeed"},
    },
}


PARALLEL_RETRY: dict[str, Any] = {
    "StartAt": "Split",
    "States": {
        "Split": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                {
                    "StartAt": "Right",
                    "States": {
                        "Right": {"Type": "Fail", "Error": "Right.Broken", "Cause": "always"}
                    },
                },
            ],
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Fallback"}],
            "End": True,
        },
        "Fallback": {"Type": "Pass", "End": True},
    },
}

RUNTIME_ERROR: dict[str, Any] = {
    "StartAt": "Shape",
    "States": {
        "Shape": {"Type": "Pass", "Parameters": {"id.$": "$.missing"}, "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}

STOPPED: dict[str, Any] = {
    "StartAt": "Linger",
    "States": {
        "Linger": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}


@dataclass(frozen=True)
class Scenario:
    definition: dict[str, Any]
    input: dict[str, Any]
    # Keep the history as soon as this holds (reported as RUNNING) instead of the final one.
    snapshot_when: Callable[[Events], bool] | None = None
    # Called with (stepfunctions client, dynamodb client, execution arn, events) on every poll.
    on_poll: Callable[[Any, Any, str, Events], None] | None = None


def _both_shards_sleeping(events: Events) -> bool:
    entered = [e for e in events if e["type"] == "WaitStateEntered"]
    return len(entered) == 2 and not any(e["type"] == "WaitStateExited" for e in events)


def _free_after_first_failure(sfn: Any, ddb: Any, arn: str, events: Events) -> None:
    if any(e["type"] == "TaskFailed" for e in events):
        ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "taken-then-freed"}})


def _stop_while_waiting(sfn: Any, ddb: Any, arn: str, events: Events) -> None:
    if any(e["type"] == "WaitStateEntered" for e in events):
        sfn.stop_execution(executionArn=arn, error="Operator.Stop", cause="stopped by test")


SCENARIOS: dict[str, Scenario] = {
    "success_plain": Scenario(SUCCESS_PLAIN, {"id": "order-1", "kind": "order"}),
    "retry_then_success": Scenario(
        RESERVE, {"pk": "taken-then-freed"}, on_poll=_free_after_first_failure
    ),
    "retry_then_catch": Scenario(RESERVE, {"pk": "taken"}),
    "parallel_branch_failure": Scenario(PARALLEL_FAILURE, {"pk": "taken"}),
    "map_iteration_failure": Scenario(
        MAP_FAILURE,
        {"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": -1}, {"sku": "c", "qty": 2}]},
    ),
    "parallel_caught": Scenario(PARALLEL_CAUGHT, {"pk": "taken", "valid": False}),
    "parallel_retry_caught": Scenario(PARALLEL_RETRY, {}),
    "runtime_error": Scenario(RUNTIME_ERROR, {"id": "x"}),
    "stopped": Scenario(STOPPED, {}, on_poll=_stop_while_waiting),
    "in_progress_nested": Scenario(
        NESTED_RUNNING, {"shards": ["s0", "s1"]}, snapshot_when=_both_shards_sleeping
    ),
}


def capture(
    name: str, *, poll_seconds: float = 0.02, timeout_seconds: float = 30.0
) -> tuple[dict[str, Any], str]:
    """Run one scenario under moto; returns (fixture document, status).

    The caller must already be inside ``mock_aws`` with ``ledger_table()`` created.
    """
    import boto3

    scenario = SCENARIOS[name]
    sfn = boto3.client("stepfunctions", region_name=REGION)
    ddb = boto3.client("dynamodb", region_name=REGION)
    arn = sfn.create_state_machine(
        name=f"history-{name}".replace("_", "-"),
        definition=json.dumps(scenario.definition),
        roleArn=ROLE_ARN,
    )["stateMachineArn"]
    execution_arn = sfn.start_execution(
        stateMachineArn=arn,
        name=f"{name}-1".replace("_", "-"),
        input=json.dumps(scenario.input),
    )["executionArn"]
    snapshot: Events | None = None
    deadline = time.monotonic() + timeout_seconds
    while True:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
        events: Events = sfn.get_execution_history(executionArn=execution_arn)["events"]
        if status == "RUNNING" and scenario.on_poll is not None:
            scenario.on_poll(sfn, ddb, execution_arn, events)
        if snapshot is None and scenario.snapshot_when and scenario.snapshot_when(events):
            snapshot = events
        if status != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} still RUNNING after {timeout_seconds}s")
        time.sleep(poll_seconds)
    if scenario.snapshot_when is not None:
        if snapshot is None:
            raise RuntimeError(f"{name}: snapshot condition never held")
        events, status = snapshot, "RUNNING"
    document = {
        "scenario": name,
        "definition": json.dumps(scenario.definition),
        "input": scenario.input,
        "status": status,
        "events": events,
    }
    return document, status


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def ledger_table() -> None:
    """Create the table the scenarios write to, holding the keys that make puts conflict."""
    import boto3

    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for key in ("taken", "taken-then-freed"):
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": key}})


def regenerate_fixtures(directory: Path = FIXTURES) -> None:
    from sluice.in_process import mocked_aws

    # moto logs every caught ASL failure with a full component dump.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    directory.mkdir(parents=True, exist_ok=True)
    with mocked_aws(run_executions=True):
        ledger_table()
        for name in SCENARIOS:
            document, status = capture(name)
            path = directory / f"{name}.json"
            path.write_text(json.dumps(document, indent=2, default=_iso) + "\n")
            print(f"{path.name}: {status}, {len(document['events'])} events")


# -- tests ----------------------------------------------------------------------------------


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return document


def story_of(name: str, *, with_definition: bool = True) -> ExecutionStory:
    document = load(name)
    return summarize(document["events"], document["definition"] if with_definition else None)


def outline(runs: list[StateRun]) -> list[Any]:
    """Names, statuses, attempt counts and nesting, without timings or payloads."""
    return [
        (
            run.name,
            run.status,
            len(run.attempts),
            [outline(branch) for branch in run.branches],
            [outline(iteration) for iteration in run.iterations],
        )
        for run in runs
    ]


def names(runs: list[StateRun]) -> list[tuple[str, str]]:
    return [(run.name, run.status) for run in runs]


def rendered(story: ExecutionStory, *, styles: bool = False, **options: Any) -> str:
    console = Console(record=True, width=120, file=io.StringIO(), force_terminal=styles)
    render(story, console, **options)
    return console.export_text(styles=styles)


def line_with(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


CONDITIONAL = "DynamoDB.ConditionalCheckFailedException"


def test_plain_success_lists_every_state_in_order() -> None:
    story = story_of("success_plain")

    assert story.status == "SUCCEEDED"
    assert json.loads(story.input or "") == {"id": "order-1", "kind": "order"}
    assert json.loads(story.output or "")["loaded"] == {"Item": {"pk": {"S": "order-1"}}}
    assert story.error is None and story.cause is None
    assert names(story.states) == [
        ("Prepare", "succeeded"),
        ("Route", "succeeded"),
        ("Pause", "succeeded"),
        ("Save", "succeeded"),
        ("Load", "succeeded"),
        ("Done", "succeeded"),
        ("Ignore", "not_reached"),
    ]
    save = story.states[3]
    assert json.loads(save.input or "") == {"pk": "order-1", "kind": "order"}
    assert len(save.attempts) == 1 and save.attempts[0].succeeded
    assert save.entered is not None and save.exited is not None
    assert save.attempts[0].started is not None
    assert save.entered <= save.attempts[0].started <= save.exited
    assert story.started and story.stopped and story.duration == story.stopped - story.started
    assert story.states[-1].entered is None and story.states[-1].event_id is None
    assert failed_state(story) is None


def test_retry_then_success_is_retried_with_both_attempts() -> None:
    story = story_of("retry_then_success")
    reserve = story.states[0]

    assert story.status == "SUCCEEDED"
    assert (reserve.name, reserve.status, reserve.retries) == ("Reserve", "retried", 1)
    first, second = reserve.attempts
    assert not first.succeeded and first.error == CONDITIONAL
    assert "conditional request failed" in (first.cause or "")
    assert second.succeeded and second.error is None
    # IntervalSeconds 1 separates the tries.
    assert first.ended and second.started and second.started - first.ended >= timedelta(seconds=1)
    assert reserve.error is None
    assert names(story.states[1:]) == [("Done", "succeeded"), ("Conflict", "not_reached")]
    assert failed_state(story) is None


def test_retry_then_catch_is_caught_and_selected() -> None:
    story = story_of("retry_then_catch")
    reserve = story.states[0]

    assert story.status == "SUCCEEDED"
    assert reserve.status == "caught"
    assert [a.succeeded for a in reserve.attempts] == [False, False, False]
    assert {a.error for a in reserve.attempts} == {CONDITIONAL}
    assert reserve.error == CONDITIONAL
    assert json.loads(reserve.output or "")["error"]["Error"] == CONDITIONAL
    assert names(story.states[1:]) == [("Conflict", "succeeded"), ("Done", "succeeded")]
    assert failed_state(story) is reserve


def test_truncated_history_is_running() -> None:
    events = load("retry_then_catch")["events"]
    definition = load("retry_then_catch")["definition"]
    first_failure = next(i for i, e in enumerate(events) if e["type"] == "TaskFailed")

    waiting = summarize(events[: first_failure + 1], definition)
    reserve = waiting.states[0]
    assert waiting.status == "RUNNING" and waiting.stopped is None
    assert reserve.status == "in_progress"
    assert [a.error for a in reserve.attempts] == [CONDITIONAL]
    assert names(waiting.states[1:]) == [("Conflict", "not_reached"), ("Done", "not_reached")]
    assert reserve.attempts[0].ended is not None and waiting.started is not None
    assert waiting.duration == reserve.attempts[0].ended - waiting.started
    assert failed_state(waiting) is None

    second_started = next(
        i for i, e in enumerate(events) if e["type"] == "TaskStarted" and i > first_failure
    )
    running = summarize(events[: second_started + 1], definition).states[0]
    assert running.status == "in_progress"
    assert len(running.attempts) == 2 and running.attempts[-1].ended is None


def test_parallel_branch_failure_points_at_the_task_inside_the_branch() -> None:
    story = story_of("parallel_branch_failure")
    fanout = story.states[0]

    assert story.status == "FAILED" and story.error == CONDITIONAL
    assert fanout.status == "failed" and fanout.error == CONDITIONAL
    assert [names(branch) for branch in fanout.branches] == [
        [("Audit", "succeeded"), ("Settle", "succeeded")],
        [("Claim", "failed"), ("Confirm", "not_reached")],
    ]
    claim = fanout.branches[1][0]
    assert len(claim.attempts) == 2 and claim.error == CONDITIONAL
    assert names(story.states[1:]) == [("Publish", "not_reached"), ("Done", "not_reached")]
    assert failed_state(story) is claim


def test_branches_follow_the_definition_not_the_event_order() -> None:
    document = load("parallel_branch_failure")
    first_entered = next(
        e["stateEnteredEventDetails"]["name"]
        for e in document["events"]
        if e["type"].endswith("StateEntered") and e["type"] != "ParallelStateEntered"
    )

    without = summarize(document["events"]).states[0]
    assert without.branches[0][0].name == first_entered
    with_definition = summarize(document["events"], document["definition"]).states[0]
    assert [branch[0].name for branch in with_definition.branches] == ["Audit", "Claim"]


def test_map_iteration_failure_attributes_interleaved_iterations() -> None:
    document = load("map_iteration_failure")
    events = document["events"]
    starts = {
        e["mapIterationStartedEventDetails"]["index"]: e["id"]
        for e in events
        if e["type"] == "MapIterationStarted"
    }
    ends = {
        e["mapIterationSucceededEventDetails"]["index"]: e["id"]
        for e in events
        if e["type"] == "MapIterationSucceeded"
    }
    assert starts[1] < ends[0], "fixture should interleave iterations"

    story = summarize(events, document["definition"])
    batch = story.states[0]
    assert story.status == "FAILED" and story.error == "Item.Invalid"
    assert (batch.name, batch.status, batch.error) == ("Batch", "failed", "Item.Invalid")
    assert len(batch.iterations) == 3
    for index, iteration in enumerate(batch.iterations):
        check = iteration[0]
        assert check.name == "Check" and check.status == "succeeded"
        assert json.loads(check.input or "")["sku"] == "abc"[index]
    assert names(batch.iterations[1]) == [
        ("Check", "succeeded"),
        ("Reject", "failed"),
        ("Hold", "not_reached"),
        ("Accept", "not_reached"),
    ]
    reject = batch.iterations[1][1]
    assert (reject.error, reject.cause) == ("Item.Invalid", "negative quantity")
    others = [run for i in (0, 2) for run in batch.iterations[i]]
    assert not [run for run in others if run.status == "failed"]
    assert failed_state(story) is reject
    assert story.states[1].name == "Report" and story.states[1].status == "not_reached"


def test_flat_statuses_take_the_worst_run_and_fill_unreached_states() -> None:
    statuses = state_statuses(story_of("map_iteration_failure"))
    # Reject: failed once, not reached twice; Hold: cut short twice, not reached once.
    assert statuses["Reject"] == "failed"
    assert statuses["Batch"] == "failed"
    assert statuses["Check"] == "succeeded"
    assert statuses["Hold"] == "aborted"
    assert statuses["Accept"] == "not_reached" and statuses["Report"] == "not_reached"
    assert set(statuses) == {"Batch", "Check", "Hold", "Accept", "Reject", "Report"}

    document = load("in_progress_nested")
    before_branches = [e for e in document["events"] if e["id"] <= 3]
    early = state_statuses(summarize(before_branches, document["definition"]))
    assert early == {
        "Outer": "in_progress",
        "Shards": "not_reached",
        "Sleep": "not_reached",
        "Tag": "not_reached",
        "Note": "not_reached",
        "Finish": "not_reached",
    }


def test_parallel_caught_selects_the_fail_state_in_the_branch() -> None:
    story = story_of("parallel_caught")
    enrich = story.states[0]

    assert story.status == "SUCCEEDED"
    assert enrich.status == "caught" and enrich.error == "Validation.Failed"
    lookup, validate = enrich.branches[0][0], enrich.branches[1]
    # The Lookup branch races the failing one: it is either done or cut short.
    assert lookup.name == "Lookup" and lookup.status in ("succeeded", "aborted")
    assert names(validate) == [
        ("Validate", "succeeded"),
        ("Invalid", "failed"),
        ("Valid", "not_reached"),
    ]
    assert (validate[1].error, validate[1].cause) == ("Validation.Failed", "record is not valid")
    assert failed_state(story) is validate[1]
    statuses = state_statuses(story)
    assert statuses["Enrich"] == "caught" and statuses["Quarantine"] == "succeeded"


def test_parallel_retry_keeps_attempts_and_the_latest_branches() -> None:
    story = story_of("parallel_retry_caught")
    split = story.states[0]

    assert split.status == "caught"
    first, second = split.attempts
    assert (first.succeeded, first.error) == (False, "Right.Broken")
    assert (second.succeeded, second.error) == (False, "Right.Broken")
    assert first.started is not None and second.started is not None
    assert second.started - first.started >= timedelta(seconds=1)
    right = split.branches[1][0]
    assert (right.name, right.status) == ("Right", "failed")
    assert failed_state(story) is right
    assert names(story.states[1:]) == [("Fallback", "succeeded")]


def test_runtime_error_is_given_the_execution_error() -> None:
    story = story_of("runtime_error")
    shape = story.states[0]

    assert story.status == "FAILED"
    assert (shape.name, shape.status, shape.error) == ("Shape", "failed", "States.Runtime")
    assert "$.missing" in (shape.cause or "")
    assert failed_state(story) is shape


def test_stopped_execution_marks_the_running_state_aborted() -> None:
    story = story_of("stopped")

    assert story.status == "ABORTED" and story.error is None
    assert names(story.states) == [("Linger", "aborted"), ("Done", "not_reached")]
    assert failed_state(story) is None


def test_in_progress_nested_parallel_and_map() -> None:
    story = story_of("in_progress_nested")
    outer = story.states[0]

    assert story.status == "RUNNING" and story.stopped is None and story.output is None
    assert outer.status == "in_progress" and outer.exited is None
    shards = outer.branches[0][0]
    assert (shards.name, shards.status) == ("Shards", "in_progress")
    assert [names(iteration) for iteration in shards.iterations] == [
        [("Sleep", "in_progress"), ("Tag", "not_reached")],
        [("Sleep", "in_progress"), ("Tag", "not_reached")],
    ]
    assert [json.loads(it[0].input or "") for it in shards.iterations] == ["s0", "s1"]
    assert names(outer.branches[1]) == [("Note", "succeeded")]
    assert names(story.states[1:]) == [("Finish", "not_reached")]
    assert failed_state(story) is None


def test_map_pads_iterations_that_have_not_started() -> None:
    document = load("in_progress_nested")
    second = next(
        e["id"]
        for e in document["events"]
        if e["type"] == "MapIterationStarted" and e["mapIterationStartedEventDetails"]["index"] == 1
    )
    events = [e for e in document["events"] if e["id"] < second]

    shards = summarize(events, document["definition"]).states[0].branches[0][0]
    assert len(shards.iterations) == 2 and shards.iterations[1] == []


def test_without_definition_there_is_nothing_unreached() -> None:
    caught = story_of("parallel_caught", with_definition=False)
    every = list(iter_runs(caught.states))
    assert every and all(run.status != "not_reached" for run in every)
    assert "Valid" not in state_statuses(caught)
    invalid = caught.states[0].branches[1][1]
    assert (invalid.name, invalid.type, invalid.error) == ("Invalid", "Fail", None)
    # The Catch's ResultPath output still names the error.
    assert caught.states[0].error == "Validation.Failed"
    assert failed_state(caught) is invalid

    failed = story_of("map_iteration_failure", with_definition=False)
    reject = failed_state(failed)
    assert reject is not None and reject.name == "Reject"
    assert (reject.error, reject.cause) == ("Item.Invalid", "negative quantity")


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
def test_timestamp_forms_and_event_order_give_the_same_story(name: str) -> None:
    document = load(name)
    expected = summarize(document["events"], document["definition"])

    as_datetimes = [
        {**e, "timestamp": datetime.fromisoformat(e["timestamp"])} for e in document["events"]
    ]
    zulu = [{**e, "timestamp": e["timestamp"].replace("+00:00", "Z")} for e in document["events"]]
    assert summarize(as_datetimes, document["definition"]) == expected
    assert summarize(zulu, document["definition"]) == expected
    assert summarize(list(reversed(document["events"])), document["definition"]) == expected
    assert expected.started is not None and expected.started.tzinfo is not None


def test_render_failure_highlights_the_failed_step() -> None:
    story = story_of("parallel_branch_failure")
    text = rendered(story)

    assert text.startswith("Execution FAILED  after 1.")
    assert f"error {CONDITIONAL}" in text.splitlines()[1]
    claim = line_with(text, "Claim")
    assert "failed" in claim and "2 attempts, 1 retried" in claim and "← failed here" in claim
    assert text.count("← failed here") == 1
    after = text[text.index(claim) :]
    assert "attempt 1 failed after" in after
    assert '"pk": "taken"' in after.split("not reached: Confirm")[0]
    assert text.index("branch 1") < text.index("Audit") < text.index("branch 2") < text.index(claim)
    assert line_with(text, "Audit").index("Audit") > line_with(text, "Fanout").index("Fanout")
    assert "not reached: Publish, Done" in text

    coloured = rendered(story, styles=True)
    assert "\x1b[1;31mClaim" in line_with(coloured, "Claim")
    assert "\x1b[1;31m" not in line_with(coloured, "Audit")


def test_render_counts_attempts() -> None:
    caught = rendered(story_of("retry_then_catch"))
    reserve = line_with(caught, "Reserve")
    assert "caught" in reserve and "3 attempts, 2 retried" in reserve and "caught here" in reserve
    assert caught.count("failed after") == 2

    retried = rendered(story_of("retry_then_success"))
    assert "2 attempts, 1 retried" in line_with(retried, "Reserve")
    assert "here" not in retried and "Execution SUCCEEDED" in retried
    assert "1 attempt" not in line_with(rendered(story_of("success_plain")), "Save")


def test_render_collapses_iterations_beyond_the_limit() -> None:
    story = story_of("map_iteration_failure")

    full = rendered(story)
    assert [line.strip() for line in full.splitlines() if "iteration" in line] == [
        "iteration 0",
        "iteration 1",
        "iteration 2",
    ]
    assert "← failed here" in line_with(full, "✗ Reject")

    short = rendered(story, max_iterations=1)
    assert "iteration 1" in short and "iteration 0" not in short and "iteration 2" not in short
    assert "… 2 more iterations (2 aborted)" in short


def test_render_running_and_aborted() -> None:
    running = rendered(story_of("in_progress_nested"))
    assert running.startswith("Execution RUNNING  so far")
    assert "running" in line_with(running, "Sleep")
    assert "not reached: Finish" in running

    stopped = rendered(story_of("stopped"))
    assert "Execution ABORTED" in stopped and "aborted" in line_with(stopped, "Linger")


def test_render_truncates_large_input() -> None:
    document = load("runtime_error")
    big = {f"key{i:03d}": "x" * (300 if i == 0 else 5) for i in range(100)}
    events = [dict(e) for e in document["events"]]
    for event in events:
        if event["type"] == "PassStateEntered":
            event["stateEnteredEventDetails"] = {
                **event["stateEnteredEventDetails"],
                "input": json.dumps(big),
            }
    text = rendered(summarize(events, document["definition"]), max_input_lines=10)

    assert '"key000": "xxx' in text and "…" in line_with(text, "key000")
    assert '"key008"' in text and '"key009"' not in text
    assert "… 92 more lines" in text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 120


def test_pretty_payload_keeps_invalid_json_as_text() -> None:
    assert pretty_payload('{"cut": "short', 5, 80) == ['{"cut": "short']
    assert pretty_payload(None, 5, 80) == ["(none)"]


def test_live_moto_histories_match_the_fixtures() -> None:
    """Guards the fixtures against moto changing what it emits."""
    from sluice.in_process import mocked_aws

    logging.getLogger("moto").setLevel(logging.CRITICAL)
    with mocked_aws(run_executions=True):
        ledger_table()
        for name in ("success_plain", "parallel_branch_failure"):
            document, status = capture(name)
            assert isinstance(document["events"][0]["timestamp"], datetime)
            live = summarize(document["events"], document["definition"])
            stored = story_of(name)
            assert live.status == stored.status == status
            assert outline(live.states) == outline(stored.states)


if __name__ == "__main__":
    regenerate_fixtures()
