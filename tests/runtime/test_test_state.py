"""TestState (`states:TestState`) at the gateway, through boto3, as the Step Functions API
reference documents it: one state run with an input and a role, answering `status`
(SUCCEEDED, FAILED, RETRIABLE, CAUGHT_ERROR), `output`, `error`, `cause`, `nextState`, and
`inspectionData` at the DEBUG and TRACE levels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sluice.testing import StackProcess

ROLE = "arn:aws:iam::123456789012:role/test-state"


def run_state(stack: StackProcess, state: dict[str, Any], payload: Any, **options: Any) -> Any:
    return stack.client("stepfunctions", inject_host_prefix=False).test_state(
        definition=json.dumps(state), roleArn=ROLE, input=json.dumps(payload), **options
    )


def lambda_task(function_arn: str, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
        **fields,
    }


@pytest.fixture(scope="module")
def flaky(fixture_stack: StackProcess) -> str:
    arn: str = fixture_stack.resource("FlakyFunction")["arn"]
    return arn


def invalid_record(tmp_path: Path) -> dict[str, Any]:
    """Input on which the flaky function raises ValidationFailed (and counts its calls)."""
    return {"id": 9, "invalid": True, "counter_file": str(tmp_path / "calls")}


def calls(tmp_path: Path) -> int:
    return int((tmp_path / "calls").read_text())


# -- the three state types the acceptance names --------------------------------------------


def test_pass_state_answers_its_output_and_next_state(fixture_stack: StackProcess) -> None:
    state = {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.r", "Next": "Done"}
    answer = run_state(fixture_stack, state, {"a": 1})

    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == {"a": 1, "r": {"x": 1}}
    assert answer["nextState"] == "Done"
    # INFO, the default level, shows the final output only.
    assert "inspectionData" not in answer
    assert "error" not in answer and "cause" not in answer


def test_lambda_task_invokes_the_stacks_function(fixture_stack: StackProcess) -> None:
    function = fixture_stack.resource("EnvironmentFunction")
    state = lambda_task(
        function["arn"],
        ResultSelector={"greeting.$": "$.Payload.greeting", "request.$": "$.Payload.request_id"},
        ResultPath="$.env",
        End=True,
    )
    answer = run_state(fixture_stack, state, {"order": 7})

    assert answer["status"] == "SUCCEEDED"
    output = json.loads(answer["output"])
    assert output["order"] == 7
    # The template's environment reached the handler: the function really ran.
    assert output["env"]["greeting"] == "hello-from-parameter-via-env"
    records = fixture_stack.gateway.get("/_sluice/invocations")
    assert output["env"]["request"] in {r["request_id"] for r in records}
    assert "nextState" not in answer  # the state ends the machine


def test_choice_state_answers_the_chosen_next_state(fixture_stack: StackProcess) -> None:
    state = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}],
        "Default": "Small",
    }
    big = run_state(fixture_stack, state, {"n": 11})
    small = run_state(fixture_stack, state, {"n": 3})

    assert (big["status"], big["nextState"]) == ("SUCCEEDED", "Big")
    assert (small["status"], small["nextState"]) == ("SUCCEEDED", "Small")
    assert json.loads(big["output"]) == {"n": 11}  # a Choice passes its input on

    no_default = {k: v for k, v in state.items() if k != "Default"}
    unmatched = run_state(fixture_stack, no_default, {"n": 3})
    assert unmatched["status"] == "FAILED"
    assert "nextState" not in unmatched and "output" not in unmatched


# -- inspection levels ----------------------------------------------------------------------


def test_debug_shows_each_step_of_the_data_flow(fixture_stack: StackProcess) -> None:
    function = fixture_stack.resource("EnvironmentFunction")
    state = lambda_task(
        function["arn"],
        InputPath="$.order",
        ResultSelector={"greeting.$": "$.Payload.greeting"},
        ResultPath="$.result",
        Next="Ship",
    )
    state["Parameters"] = {"FunctionName": function["arn"], "Payload": {"id.$": "$.id"}}
    payload = {"order": {"id": 7, "lines": 2}, "customer": "c-1"}
    answer = run_state(fixture_stack, state, payload, inspectionLevel="DEBUG")

    data = answer["inspectionData"]
    assert json.loads(data["input"]) == payload
    assert json.loads(data["afterInputPath"]) == {"id": 7, "lines": 2}
    assert json.loads(data["afterParameters"]) == {
        "FunctionName": function["arn"],
        "Payload": {"id": 7},
    }
    assert json.loads(data["result"])["Payload"]["greeting"] == "hello-from-parameter-via-env"
    assert json.loads(data["afterResultSelector"]) == {"greeting": "hello-from-parameter-via-env"}
    # ResultPath places the result in the state's raw input, not in InputPath's selection.
    after_result_path = {**payload, "result": {"greeting": "hello-from-parameter-via-env"}}
    assert json.loads(data["afterResultPath"]) == after_result_path
    assert json.loads(answer["output"]) == after_result_path
    assert answer["nextState"] == "Ship"
    # No HTTP Task: no request or response to show.
    assert "request" not in data and "response" not in data

    trace = run_state(fixture_stack, state, payload, inspectionLevel="TRACE")
    assert json.loads(trace["inspectionData"]["afterResultPath"]) == after_result_path


def test_variables_go_in_and_come_out_in_the_inspection_data(fixture_stack: StackProcess) -> None:
    state = {
        "Type": "Pass",
        "Parameters": {"x.$": "$x"},
        "Assign": {"seen": "yes", "copy.$": "$x"},
        "End": True,
    }
    answer = fixture_stack.client("stepfunctions", inject_host_prefix=False).test_state(
        definition=json.dumps(state),
        roleArn=ROLE,
        input=json.dumps({"n": 4}),
        inspectionLevel="DEBUG",
        variables=json.dumps({"x": 5}),
    )
    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == {"x": 5}
    assert json.loads(answer["inspectionData"]["variables"]) == {"x": 5, "seen": "yes", "copy": 5}


def test_a_jsonata_state_shows_its_arguments(fixture_stack: StackProcess) -> None:
    function = fixture_stack.resource("EnvironmentFunction")
    state = {
        "Type": "Task",
        "QueryLanguage": "JSONata",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Arguments": {"FunctionName": function["arn"], "Payload": {"id": "{% $states.input.id %}"}},
        "Output": "{% $states.result.Payload.greeting %}",
        "Next": "Ship",
    }
    answer = run_state(fixture_stack, state, {"id": 7}, inspectionLevel="DEBUG")

    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == "hello-from-parameter-via-env"
    data = answer["inspectionData"]
    assert json.loads(data["afterArguments"]) == {
        "FunctionName": function["arn"],
        "Payload": {"id": 7},
    }
    # Not populated when QueryLanguage is JSONata.
    assert "afterParameters" not in data and "afterInputPath" not in data


# -- errors: failed, caught, retriable -----------------------------------------------------


def test_an_unhandled_task_error_fails_with_its_error_and_cause(
    fixture_stack: StackProcess, flaky: str, tmp_path: Path
) -> None:
    answer = run_state(fixture_stack, lambda_task(flaky, Next="Ship"), invalid_record(tmp_path))

    assert answer["status"] == "FAILED"
    assert answer["error"] == "ValidationFailed"
    assert "record 9 is invalid" in answer["cause"]
    # "If the execution of the state fails, this field doesn't contain a value."
    assert "nextState" not in answer and "output" not in answer


def test_a_caught_error_answers_the_catchers_next_state_and_output(
    fixture_stack: StackProcess, flaky: str, tmp_path: Path
) -> None:
    state = lambda_task(
        flaky,
        Catch=[
            {"ErrorEquals": ["Unrelated"], "Next": "Elsewhere"},
            {"ErrorEquals": ["ValidationFailed"], "ResultPath": "$.error", "Next": "Quarantine"},
        ],
        Next="Ship",
    )
    payload = invalid_record(tmp_path)
    answer = run_state(fixture_stack, state, payload, inspectionLevel="DEBUG")

    assert answer["status"] == "CAUGHT_ERROR"
    assert answer["nextState"] == "Quarantine"
    assert answer["error"] == "ValidationFailed"
    output = json.loads(answer["output"])
    assert {k: output[k] for k in payload} == payload  # ResultPath kept the input
    assert output["error"]["Error"] == "ValidationFailed"
    assert "record 9 is invalid" in output["error"]["Cause"]
    assert answer["inspectionData"]["errorDetails"] == {"catchIndex": 1}


def test_a_retriable_error_is_not_retried_and_names_its_retrier(
    fixture_stack: StackProcess, flaky: str, tmp_path: Path
) -> None:
    retry = [
        {"ErrorEquals": ["Unrelated"]},
        {
            "ErrorEquals": ["ValidationFailed"],
            "IntervalSeconds": 2,
            "BackoffRate": 3,
            "MaxAttempts": 2,
        },
    ]
    catch = [{"ErrorEquals": ["States.ALL"], "Next": "Quarantine"}]
    state = lambda_task(flaky, Retry=retry, Catch=catch, Next="Ship")
    payload = invalid_record(tmp_path)

    first = run_state(fixture_stack, state, payload, inspectionLevel="DEBUG")
    assert first["status"] == "RETRIABLE"
    assert first["error"] == "ValidationFailed"
    # The first retry waits IntervalSeconds.
    assert first["inspectionData"]["errorDetails"] == {
        "retryIndex": 1,
        "retryBackoffIntervalSeconds": 2,
    }
    assert calls(tmp_path) == 1  # one invocation: TestState does not run the retries

    # After one retry, the wait is IntervalSeconds x BackoffRate.
    second = run_state(
        fixture_stack,
        state,
        payload,
        inspectionLevel="DEBUG",
        stateConfiguration={"retrierRetryCount": 1},
    )
    assert second["status"] == "RETRIABLE"
    assert second["inspectionData"]["errorDetails"]["retryBackoffIntervalSeconds"] == 6

    # MaxAttempts retries made: the retrier is exhausted and the Catch takes the error.
    exhausted = run_state(
        fixture_stack, state, payload, stateConfiguration={"retrierRetryCount": 2}
    )
    assert exhausted["status"] == "CAUGHT_ERROR"
    assert exhausted["nextState"] == "Quarantine"


# -- mocks and whole state machines -----------------------------------------------------------


def test_a_mock_stands_in_for_the_task_and_needs_no_role(fixture_stack: StackProcess) -> None:
    sfn = fixture_stack.client("stepfunctions", inject_host_prefix=False)
    state = lambda_task(
        "arn:aws:lambda:us-east-1:123456789012:function:not-deployed",
        ResultSelector={"ok.$": "$.Payload.ok"},
        Catch=[{"ErrorEquals": ["Boom"], "Next": "Recover"}],
        End=True,
    )
    result = sfn.test_state(
        definition=json.dumps(state),
        input="{}",
        mock={"result": json.dumps({"Payload": {"ok": True}, "StatusCode": 200})},
    )
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"ok": True}

    thrown = sfn.test_state(
        definition=json.dumps(state),
        input="{}",
        mock={"errorOutput": {"error": "Boom", "cause": "mocked"}},
    )
    assert (thrown["status"], thrown["nextState"]) == ("CAUGHT_ERROR", "Recover")
    assert json.loads(thrown["output"]) == {"Error": "Boom", "Cause": "mocked"}


def test_state_name_picks_a_state_of_a_whole_state_machine(fixture_stack: StackProcess) -> None:
    machine = {
        "StartAt": "First",
        "States": {
            "First": {"Type": "Pass", "Next": "Second"},
            "Second": {"Type": "Pass", "Result": "two", "Next": "Third"},
            "Third": {"Type": "Succeed"},
        },
    }
    answer = fixture_stack.client("stepfunctions", inject_host_prefix=False).test_state(
        definition=json.dumps(machine), roleArn=ROLE, input="{}", stateName="Second"
    )
    assert (answer["status"], answer["nextState"]) == ("SUCCEEDED", "Third")
    assert json.loads(answer["output"]) == "two"


# -- invalid requests ---------------------------------------------------------------------------


def error_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_invalid_requests_answer_the_apis_error_codes(fixture_stack: StackProcess) -> None:
    sfn = fixture_stack.client("stepfunctions", inject_host_prefix=False)
    pass_state = json.dumps({"Type": "Pass", "End": True})

    assert error_of(lambda: sfn.test_state(definition="{not json", roleArn=ROLE, input="{}")) == (
        "InvalidDefinition",
        400,
    )
    assert error_of(
        lambda: sfn.test_state(definition=json.dumps({"Type": "Nope"}), roleArn=ROLE, input="{}")
    ) == ("InvalidDefinition", 400)
    assert error_of(
        lambda: sfn.test_state(definition=pass_state, roleArn=ROLE, input="{not json")
    ) == ("InvalidExecutionInput", 400)
    # Without a mock, the role is required.
    assert error_of(lambda: sfn.test_state(definition=pass_state, input="{}")) == (
        "ValidationException",
        400,
    )
    # A mock only for Task, Map or Parallel states.
    assert error_of(
        lambda: sfn.test_state(definition=pass_state, input="{}", mock={"result": "{}"})
    ) == ("ValidationException", 400)


def test_an_invalid_jsonata_state_leaves_later_requests_unharmed(
    fixture_stack: StackProcess,
) -> None:
    """A definition rejected inside a JSONata scope must not leave that scope behind for the
    next parse (issue 18: one bad definition poisoned every later JSONPath one)."""
    sfn = fixture_stack.client("stepfunctions", inject_host_prefix=False)
    bad = {"Type": "Pass", "QueryLanguage": "JSONata", "Parameters": {"a": 1}, "End": True}
    for _ in range(2):
        assert error_of(
            lambda: sfn.test_state(definition=json.dumps(bad), roleArn=ROLE, input="{}")
        ) == ("InvalidDefinition", 400)
    state = {"Type": "Pass", "Parameters": {"b.$": "$.a"}, "End": True}
    answer = run_state(fixture_stack, state, {"a": 1})
    assert json.loads(answer["output"]) == {"b": 1}
