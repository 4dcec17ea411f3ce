"""Executions across a crash: finished ones come back with their histories; one that was
running is marked FAILED (States.Runtime, naming the crash) and a redrive continues it."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from sluice.testing import StackProcess, wait_for

TEMPLATE = Path(__file__).resolve().parent / "fixture" / "template.yaml"


def _machine(stack: StackProcess) -> str:
    return str(stack.resource("HoldMachine")["arn"])


def _describe(stack: StackProcess, arn: str) -> dict[str, Any]:
    out: dict[str, Any] = stack.client("stepfunctions").describe_execution(executionArn=arn)
    return out


def _history(stack: StackProcess, arn: str) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    events: list[dict[str, Any]] = sfn.get_execution_history(executionArn=arn, maxResults=1000)[
        "events"
    ]
    return events


def _entered(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def test_running_execution_is_failed_by_the_crash_and_redrive_continues_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "stack"
    stack = StackProcess(TEMPLATE, data_dir, time_scale=1)
    try:
        sfn = stack.client("stepfunctions")
        done = sfn.start_execution(
            stateMachineArn=_machine(stack), name="done", input=json.dumps({"wait": 0})
        )["executionArn"]
        wait_for(lambda: _describe(stack, done)["status"] == "SUCCEEDED", what="the short run")
        done_history = _history(stack, done)
        held = sfn.start_execution(
            stateMachineArn=_machine(stack), name="held", input=json.dumps({"wait": 3600})
        )["executionArn"]
        wait_for(
            lambda: _entered(_history(stack, held)) == ["First", "Hold"], what="the Wait state"
        )
        # The engine's events reach the disk with the next flush: the background one (within
        # 50 ms) or, as here, the one before a write request is answered.
        sfn.tag_resource(resourceArn=_machine(stack), tags=[{"key": "seen", "value": "Hold"}])
    finally:
        stack.kill()

    stack = StackProcess(TEMPLATE, data_dir, time_scale=0)
    try:
        listed = stack.client("stepfunctions").list_executions(stateMachineArn=_machine(stack))
        assert sorted(e["name"] for e in listed["executions"]) == ["done", "held"]
        assert _describe(stack, done)["status"] == "SUCCEEDED"
        assert json.loads(_describe(stack, done)["output"]) == {
            "wait": 0,
            "first": {"started": True},
        }
        assert _history(stack, done) == done_history

        # The console shows the earlier execution with its graph.
        url = f"{stack.gateway.url}/console/api/execution?arn={urllib.parse.quote(done)}"
        with urllib.request.urlopen(url, timeout=30) as resp:
            page = json.loads(resp.read())
        assert page["status"] == "SUCCEEDED"
        assert all(f">{name}<" in page["html"] for name in ("First", "Hold", "Done"))

        crashed = _describe(stack, held)
        assert crashed["status"] == "FAILED"
        assert crashed["error"] == "States.Runtime"
        assert "killed or crashed" in crashed["cause"]
        events = _history(stack, held)
        assert events[-1]["type"] == "ExecutionFailed"
        assert events[-1]["executionFailedEventDetails"]["error"] == "States.Runtime"

        # Redrive continues at the state that had not finished: First does not run again.
        stack.client("stepfunctions").redrive_execution(executionArn=held)
        wait_for(lambda: _describe(stack, held)["status"] == "SUCCEEDED", what="the redriven run")
        events = _history(stack, held)
        assert _entered(events) == ["First", "Hold", "Hold", "Done"]
        assert [e["type"] for e in events].count("ExecutionStarted") == 1
        assert any(e["type"] == "ExecutionRedriven" for e in events)
    finally:
        stack.stop()


def test_fresh_starts_from_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "stack"
    stack = StackProcess(TEMPLATE, data_dir)
    try:
        sfn = stack.client("stepfunctions")
        arn = sfn.start_execution(stateMachineArn=_machine(stack), input='{"wait": 0}')[
            "executionArn"
        ]
        wait_for(lambda: _describe(stack, arn)["status"] == "SUCCEEDED", what="the run")
    finally:
        stack.stop()
    stack = StackProcess(TEMPLATE, data_dir, fresh=True)
    try:
        listed = stack.client("stepfunctions").list_executions(stateMachineArn=_machine(stack))
        assert listed["executions"] == []
    finally:
        stack.stop()
