"""RedriveExecution: a failed Standard execution continues from the state that failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sluice.testing import StackProcess, module_stack, wait_for

HERE = Path(__file__).resolve().parent / "redrive"


redrive_stack = module_stack(HERE / "template.yaml")


def calls(work: Path, step: str) -> int:
    path = work / f"{step}.calls"
    return len(path.read_text()) if path.exists() else 0


def failed_run(stack: StackProcess, work: Path, flow: str = "three_steps") -> str:
    arn = stack.start(flow, {"dir": str(work)})
    execution = stack.execution(arn)
    assert execution.status == "FAILED"
    assert execution.error == "NotFixedYet"
    return arn


def history(stack: StackProcess, arn: str) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events += page["events"]
    return events


def not_redrivable(stack: StackProcess, arn: str) -> str:
    with pytest.raises(ClientError) as caught:
        stack.client("stepfunctions").redrive_execution(executionArn=arn)
    error = caught.value.response["Error"]
    assert error["Code"] == "ExecutionNotRedrivable"
    return str(error["Message"])


def test_redrive_resumes_at_the_failed_state_without_rerunning_the_ones_that_succeeded(
    redrive_stack: StackProcess, tmp_path: Path
) -> None:
    sfn = redrive_stack.client("stepfunctions")
    arn = failed_run(redrive_stack, tmp_path)
    assert (calls(tmp_path, "first"), calls(tmp_path, "second")) == (1, 1)
    before = sfn.describe_execution(executionArn=arn)
    assert before["redriveCount"] == 0
    assert before["redriveStatus"] == "REDRIVABLE"

    (tmp_path / "fixed").write_text("yes")
    redriven = sfn.redrive_execution(executionArn=arn)
    execution = redrive_stack.execution(arn)

    assert execution.arn == arn
    assert execution.status == "SUCCEEDED"
    assert calls(tmp_path, "first") == 1  # not invoked again
    assert calls(tmp_path, "second") == 2
    assert calls(tmp_path, "third") == 1
    # Second ran again with its recorded input (First's result), and Third still sees the
    # variable First assigned before the failure.
    assert execution.output["first"] == {"out": {"step": "first", "calls": 1}}
    assert execution.output["third"]["out"]["seen"] == 1

    events = execution.events
    types = [e["type"] for e in events]
    assert types.count("ExecutionStarted") == 1
    assert types.count("ExecutionFailed") == 1
    assert types[-1] == "ExecutionSucceeded"
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    redrive_event = events[types.index("ExecutionRedriven")]
    assert redrive_event["executionRedrivenEventDetails"] == {"redriveCount": 1}
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in events[types.index("ExecutionRedriven") :]
        if "stateEnteredEventDetails" in e
    ]
    assert entered == ["Second", "Third"]
    # `sluice history` and the console tell the same story: succeeded, Second failed once.
    story = execution.story
    assert story.status == "SUCCEEDED"
    assert [(run.name, run.status) for run in story.states] == [
        ("First", "succeeded"),
        ("Second", "failed"),
        ("Second", "succeeded"),
        ("Third", "succeeded"),
    ]

    after = sfn.describe_execution(executionArn=arn)
    assert after["redriveCount"] == 1
    assert after["redriveDate"] == redriven["redriveDate"]
    assert after["startDate"] == before["startDate"]
    assert after["redriveStatus"] == "NOT_REDRIVABLE"
    assert "error" not in after and "cause" not in after


def test_redriving_twice_counts_both_redrives(redrive_stack: StackProcess, tmp_path: Path) -> None:
    sfn = redrive_stack.client("stepfunctions")
    arn = failed_run(redrive_stack, tmp_path)

    sfn.redrive_execution(executionArn=arn)  # not fixed yet: fails again at Second
    again = redrive_stack.execution(arn)
    assert again.status == "FAILED"
    assert sfn.describe_execution(executionArn=arn)["redriveCount"] == 1

    (tmp_path / "fixed").write_text("yes")
    sfn.redrive_execution(executionArn=arn)
    done = redrive_stack.execution(arn)
    assert done.status == "SUCCEEDED"
    assert sfn.describe_execution(executionArn=arn)["redriveCount"] == 2
    assert (calls(tmp_path, "first"), calls(tmp_path, "second"), calls(tmp_path, "third")) == (
        1,
        3,
        1,
    )
    redrives = [e for e in done.events if e["type"] == "ExecutionRedriven"]
    assert [e["executionRedrivenEventDetails"]["redriveCount"] for e in redrives] == [1, 2]
    assert [e["type"] for e in done.events].count("ExecutionStarted") == 1


def test_a_redrive_runs_the_definition_its_execution_started_with(
    redrive_stack: StackProcess, tmp_path: Path
) -> None:
    """AWS: a redriven execution uses the state machine definition of the original
    execution, even once the machine has been updated since (redrive-executions.html)."""
    sfn = redrive_stack.client("stepfunctions")
    machine = redrive_stack.flow_arn("three_steps")
    original = sfn.describe_state_machine(stateMachineArn=machine)["definition"]
    arn = failed_run(redrive_stack, tmp_path)
    updated = json.loads(original)
    updated["States"]["Second"] = {"Type": "Fail", "Error": "UpdatedDefinition"}
    sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps(updated))
    try:
        (tmp_path / "fixed").write_text("yes")
        sfn.redrive_execution(executionArn=arn)
        execution = redrive_stack.execution(arn)
    finally:
        sfn.update_state_machine(stateMachineArn=machine, definition=original)

    assert execution.status == "SUCCEEDED"
    assert (calls(tmp_path, "second"), calls(tmp_path, "third")) == (2, 1)


def test_a_succeeded_execution_is_not_redrivable(
    redrive_stack: StackProcess, tmp_path: Path
) -> None:
    (tmp_path / "fixed").write_text("yes")
    execution = redrive_stack.run("three_steps", {"dir": str(tmp_path)})
    assert execution.status == "SUCCEEDED"
    assert "SUCCEEDED" in not_redrivable(redrive_stack, execution.arn)
    desc = redrive_stack.client("stepfunctions").describe_execution(executionArn=execution.arn)
    assert desc["redriveStatus"] == "NOT_REDRIVABLE"
    assert desc["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven."
    assert calls(tmp_path, "first") == 1


def test_an_express_execution_is_not_redrivable(
    redrive_stack: StackProcess, tmp_path: Path
) -> None:
    arn = failed_run(redrive_stack, tmp_path, flow="three_steps_express")
    assert "EXPRESS" in not_redrivable(redrive_stack, arn)
    assert calls(tmp_path, "second") == 1


def test_an_unknown_execution_does_not_exist(redrive_stack: StackProcess) -> None:
    arn = redrive_stack.flow_arn("three_steps").replace(":stateMachine:", ":execution:") + ":nope"
    with pytest.raises(ClientError) as caught:
        redrive_stack.client("stepfunctions").redrive_execution(executionArn=arn)
    assert caught.value.response["Error"]["Code"] == "ExecutionDoesNotExist"


def test_a_repeated_client_token_answers_the_first_redrive(
    redrive_stack: StackProcess, tmp_path: Path
) -> None:
    sfn = redrive_stack.client("stepfunctions")
    arn = failed_run(redrive_stack, tmp_path)
    first = sfn.redrive_execution(executionArn=arn, clientToken="same-token")
    assert redrive_stack.execution(arn).status == "FAILED"  # still not fixed
    repeated = sfn.redrive_execution(executionArn=arn, clientToken="same-token")
    assert repeated["redriveDate"] == first["redriveDate"]
    desc = sfn.describe_execution(executionArn=arn)
    assert (desc["redriveCount"], desc["status"]) == (1, "FAILED")
    assert calls(tmp_path, "second") == 2


def test_list_executions_reports_and_filters_redrives(
    redrive_stack: StackProcess, tmp_path: Path
) -> None:
    sfn = redrive_stack.client("stepfunctions")
    machine = redrive_stack.flow_arn("three_steps")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    redriven = failed_run(redrive_stack, tmp_path / "a")
    untouched = failed_run(redrive_stack, tmp_path / "b")
    sfn.redrive_execution(executionArn=redriven)
    redrive_stack.execution(redriven)

    def arns(**kwargs: Any) -> dict[str, Any]:
        items = sfn.list_executions(stateMachineArn=machine, **kwargs)["executions"]
        return {e["executionArn"]: e for e in items}

    listed = arns()
    assert listed[redriven]["redriveCount"] == 1
    assert "redriveDate" in listed[redriven]
    assert listed[untouched]["redriveCount"] == 0
    assert redriven in arns(redriveFilter="REDRIVEN")
    assert untouched not in arns(redriveFilter="REDRIVEN")
    assert untouched in arns(redriveFilter="NOT_REDRIVEN")
    assert redriven not in arns(redriveFilter="NOT_REDRIVEN")


def test_cli_redrive_by_name_waits_for_the_outcome(
    redrive_stack: StackProcess, tmp_path: Path
) -> None:
    arn = failed_run(redrive_stack, tmp_path)
    name = arn.rsplit(":", 1)[-1]
    (tmp_path / "fixed").write_text("yes")

    result = redrive_stack.cli("redrive", name, "--wait")
    assert result.returncode == 0, result.stderr
    assert f"redriven {arn}" in result.stdout
    assert "SUCCEEDED" in result.stdout
    assert calls(tmp_path, "first") == 1

    again = redrive_stack.cli("redrive", arn)
    assert again.returncode == 1  # a runtime failure (usage errors are 2)
    assert "cannot be redriven: Execution is SUCCEEDED" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert "Traceback" not in again.stderr + again.stdout


def test_cli_redrive_of_an_unknown_execution_is_one_clear_line(
    redrive_stack: StackProcess,
) -> None:
    result = redrive_stack.cli("redrive", "no-such-execution")
    assert result.returncode == 1  # a runtime failure (usage errors are 2)
    assert "no execution named 'no-such-execution'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_redrive_without_wait_prints_the_new_status(
    redrive_stack: StackProcess, tmp_path: Path
) -> None:
    arn = failed_run(redrive_stack, tmp_path)
    result = redrive_stack.cli("redrive", arn)
    assert result.returncode == 0, result.stderr
    assert f"redriven {arn} (redrive 1):" in result.stdout
    wait_for(
        lambda: (
            redrive_stack.client("stepfunctions").describe_execution(executionArn=arn)["status"]
            == "FAILED"
        ),
        what="the redriven execution to fail again",
    )
    assert calls(tmp_path, "second") == 2


# "For workflows that include an Inline Map or Parallel state, RedriveExecution API action
# reschedules and redrives only the iterations and branches that failed or aborted"
# (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html).


def _exited_before(events: list[dict[str, Any]], state: str) -> bool:
    return any(e.get("stateExitedEventDetails", {}).get("name") == state for e in events)


def _entered_after_redrive(events: list[dict[str, Any]]) -> list[str]:
    types = [e["type"] for e in events]
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in events[types.index("ExecutionRedriven") :]
        if "stateEnteredEventDetails" in e
    ]


def test_redrive_of_a_parallel_state_reruns_only_the_branch_that_failed(
    redrive_stack: StackProcess, tmp_path: Path
) -> None:
    arn = redrive_stack.start("parallel_branches", {"dir": str(tmp_path)})
    failed = redrive_stack.execution(arn)
    assert (failed.status, failed.error) == ("FAILED", "NotFixedYet")
    # The failing branch fails the Parallel state; the other may have ended by then, or
    # been aborted with it (then it runs again, as on AWS).
    first_ended = _exited_before(failed.events, "BranchFirst")
    first_calls = calls(tmp_path, "first")

    (tmp_path / "fixed").write_text("yes")
    redrive_stack.client("stepfunctions").redrive_execution(executionArn=arn)
    execution = redrive_stack.execution(arn)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert calls(tmp_path, "second") == 2
    entered = _entered_after_redrive(execution.events)
    assert ("BranchFirst" in entered) is not first_ended
    assert calls(tmp_path, "first") == (first_calls if first_ended else first_calls + 1)
    assert execution.output[0]["step"] == "first"
    assert execution.output[0]["calls"] == calls(tmp_path, "first")
    assert execution.output[1] == {"step": "second", "calls": 2}


def test_redrive_of_an_inline_map_reruns_only_the_iterations_that_did_not_succeed(
    redrive_stack: StackProcess, tmp_path: Path
) -> None:
    # One item at a time: item 0 succeeds, item 1 fails the Map, item 2 never starts.
    arn = redrive_stack.start(
        "map_items", {"dir": str(tmp_path), "steps": ["first", "second", "first"]}
    )
    failed = redrive_stack.execution(arn)
    assert (failed.status, failed.error) == ("FAILED", "NotFixedYet")
    assert (calls(tmp_path, "first"), calls(tmp_path, "second")) == (1, 1)

    (tmp_path / "fixed").write_text("yes")
    redrive_stack.client("stepfunctions").redrive_execution(executionArn=arn)
    execution = redrive_stack.execution(arn)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    # Item 0 kept its result; items 1 and 2 ran.
    assert (calls(tmp_path, "first"), calls(tmp_path, "second")) == (2, 2)
    assert execution.output == [
        {"step": "first", "calls": 1},
        {"step": "second", "calls": 2},
        {"step": "first", "calls": 2},
    ]
    assert _entered_after_redrive(execution.events).count("ItemFirst") == 1
