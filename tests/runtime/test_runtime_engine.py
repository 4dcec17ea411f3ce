"""The embedded engine runs the template's ASL with the real handlers, as Step Functions would."""

from __future__ import annotations

from pathlib import Path

from sluice.testing import StackProcess


def test_retry_matches_the_task_exception_class_name(
    fixture_stack: StackProcess, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    execution = fixture_stack.run("retry_catch", {"counter_file": str(counter), "fail_times": 2})
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"result": {"attempts": 3}}
    work = execution.state("Work")
    assert len(work.attempts) == 3
    assert [a.error for a in work.attempts[:2]] == ["TransientError", "TransientError"]
    assert work.status == "retried"


def test_retries_exhausted_fail_the_execution_with_the_last_error(
    fixture_stack: StackProcess, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    execution = fixture_stack.run("retry_catch", {"counter_file": str(counter), "fail_times": 10})
    assert execution.status == "FAILED"
    assert execution.error == "TransientError"
    assert "attempt 4 failed" in (execution.cause or "")
    assert counter.read_text() == "4"  # the first try plus MaxAttempts=3 retries
    failed = execution.failed_state
    assert failed is not None and failed.name == "Work"


def test_catch_routes_a_named_error_to_the_fallback(
    fixture_stack: StackProcess, tmp_path: Path
) -> None:
    execution = fixture_stack.run(
        "retry_catch", {"counter_file": str(tmp_path / "c"), "invalid": True, "id": "r1"}
    )
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"fallback": True, "error": "ValidationFailed"}
    assert execution.state("Work").status == "caught"
    assert (tmp_path / "c").read_text() == "1"  # ValidationFailed is not retried


def test_task_exceeding_its_template_timeout_fails_with_the_lambda_timeout_error(
    fixture_stack: StackProcess,
) -> None:
    execution = fixture_stack.run("timeout", {"seconds": 5})
    assert execution.status == "FAILED"
    assert execution.error == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in (execution.cause or "")
    # The killed worker is replaced: the function still answers afterwards.
    assert fixture_stack.run("timeout", {"seconds": 0}).status == "SUCCEEDED"


def test_function_environment_context_and_definition_substitutions(
    fixture_stack: StackProcess,
) -> None:
    execution = fixture_stack.run("environment", {})
    assert execution.status == "SUCCEEDED"
    out = execution.output
    assert out["definition"] == {"substituted": "hello-from-parameter", "table": "sluice-items"}
    env = out["env"]
    assert env["greeting"] == "hello-from-parameter-via-env"  # function Environment + !Sub
    assert env["global"] == "from-globals"  # Globals.Function.Environment
    assert env["endpoint"] == fixture_stack.gateway.url  # tasks reach the gateway
    assert env["function_name"] == "EnvironmentFunction"
    assert env["memory"] == 256
    assert 0 < env["remaining_ms"] <= 10_000


def test_invoke_logs_are_captured_per_request(fixture_stack: StackProcess) -> None:
    execution = fixture_stack.run("environment", {})
    request_id = execution.output["env"]["request_id"]
    records = fixture_stack.gateway.get("/_sluice/invocations")
    mine = [r for r in records if r["request_id"] == request_id]
    assert len(mine) == 1
    assert "environment task called" in mine[0]["logs"]


def test_mock_config_test_case_drives_the_retry_path(
    fixture_stack: StackProcess, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    execution = fixture_stack.run(
        "retry_catch", {"counter_file": str(counter)}, test_case="RetryThenSucceed"
    )
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"result": {"attempts": "mocked"}}
    assert len(execution.state("Work").attempts) == 3
    assert not counter.exists()  # the real function never ran


def test_unknown_mock_test_case_is_rejected(fixture_stack: StackProcess) -> None:
    import botocore.exceptions
    import pytest

    sfn = fixture_stack.client("stepfunctions")
    with pytest.raises(botocore.exceptions.ClientError):
        sfn.start_execution(
            stateMachineArn=fixture_stack.flow_arn("retry_catch") + "#NoSuchCase", input="{}"
        )
