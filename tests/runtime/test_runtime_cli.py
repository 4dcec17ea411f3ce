"""The CLI against a running stack: clear one-line errors, history of a failed execution."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.console.pages import execution_url
from sluice.testing import StackProcess, wait_for


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        # what the stack answers is a runtime failure: exit 1
        (["exec", "no_such_flow"], "unknown flow 'no_such_flow'", 1),
        (["history", "no-such-execution"], "no execution named 'no-such-execution'", 1),
        (["executions", "no_such_flow"], "unknown flow 'no_such_flow'", 1),
        # a command line the CLI cannot act on is a usage error: exit 2
        (["exec", "retry_catch", "--input", "{not json"], "input is not valid JSON", 2),
        (
            ["exec", "retry_catch", "--input", "@/nonexistent/input.json"],
            "cannot read input file",
            2,
        ),
        (["up", "--parameter-overrides", "NoEquals"], "takes KEY=VALUE", 2),
        (["seed", "no_such_flow"], "no lake seed for 'no_such_flow'", 2),
        (["produce", "transcript_persistence"], "unknown flow 'transcript_persistence'", 1),
        (["pipes", "stop", "no-such-pipe"], "no pipe 'no-such-pipe'; the stack's pipes:", 1),
    ],
)
def test_bad_input_gives_one_clear_line_and_a_nonzero_exit(
    fixture_stack: StackProcess, args: list[str], message: str, code: int
) -> None:
    result = fixture_stack.cli(*args)
    assert result.returncode != 0
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_gateway_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sluice", "executions"],
        capture_output=True,
        text=True,
        env={**os.environ, "SLUICE_ENDPOINT": "http://127.0.0.1:9"},
        timeout=60,
    )
    assert result.returncode != 0
    assert result.returncode == 1  # a runtime failure, not a usage error
    assert "no Sluice gateway at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_click_usage_errors_exit_2(fixture_stack: StackProcess) -> None:
    for args in (["exec"], ["executions", "--no-such-option"], ["produce", "no_such_flow"]):
        result = fixture_stack.cli(*args)
        assert result.returncode == 2, (args, result.stderr)


def test_exec_wait_and_history_of_a_failed_execution(
    fixture_stack: StackProcess, tmp_path: Path
) -> None:
    payload = tmp_path / "input.json"
    payload.write_text(json.dumps({"counter_file": str(tmp_path / "c"), "fail_times": 9}))
    run = fixture_stack.cli(
        "exec",
        "retry_catch",
        "--input",
        f"@{payload}",
        "--wait",
        "--name",
        "cli-failed-run",
    )
    assert run.returncode == 1, run.stderr
    assert "FAILED" in run.stdout and "TransientError" in run.stdout

    history = fixture_stack.cli("history", "cli-failed-run")
    assert history.returncode == 0, history.stderr
    text = history.stdout
    assert "FAILED" in text
    assert "Work" in text and "failed here" in text
    assert "4 attempts" in text  # first try + 3 retries
    assert "TransientError" in text and "attempt 4 failed" in text  # error and cause
    assert "counter_file" in text  # the failed step's input

    listing = fixture_stack.cli("executions", "retry_catch", "--status", "FAILED")
    assert listing.returncode == 0
    assert "cli-failed-run" in listing.stdout


def failing_run(fixture_stack: StackProcess, tmp_path: Path, *extra: str) -> Any:
    tmp_path.mkdir(parents=True, exist_ok=True)
    payload = tmp_path / "input.json"
    payload.write_text(json.dumps({"counter_file": str(tmp_path / "c"), "fail_times": 9}))
    return fixture_stack.cli("exec", "retry_catch", "--input", f"@{payload}", "--wait", *extra)


def test_exec_wait_json_is_the_outcome_with_the_lambda_error_message(
    fixture_stack: StackProcess, tmp_path: Path
) -> None:
    run = failing_run(fixture_stack, tmp_path, "--json", "--name", "cli-json-run")
    assert run.returncode == 1, run.stderr
    outcome = json.loads(run.stdout)  # nothing but the JSON on stdout
    assert outcome["status"] == "FAILED"
    assert outcome["name"] == "cli-json-run"
    assert outcome["executionArn"].endswith(":cli-json-run")
    assert outcome["error"] == "TransientError"
    assert outcome["cause"] == "attempt 4 failed"  # the errorMessage, not the Lambda payload

    ok = fixture_stack.cli(
        "exec", "retry_catch", "--input", json.dumps({"counter_file": str(tmp_path / "ok")}),
        "--wait", "--json",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "SUCCEEDED"
    assert json.loads(ok.stdout)["output"] is not None


def test_failure_causes_show_the_message_and_trace_shows_the_stack(
    fixture_stack: StackProcess, tmp_path: Path
) -> None:
    plain = failing_run(fixture_stack, tmp_path / "a", "--name", "cli-trace-run")
    assert plain.returncode == 1
    assert "cause: attempt 4 failed" in plain.stdout
    assert "errorMessage" not in plain.stdout and "fixture_tasks.py" not in plain.stdout

    history = fixture_stack.cli("history", "cli-trace-run")
    assert "attempt 4 failed" in history.stdout
    assert "errorMessage" not in history.stdout and "fixture_tasks.py" not in history.stdout

    traced = fixture_stack.cli("history", "cli-trace-run", "--trace")
    assert "attempt 4 failed" in traced.stdout
    assert "fixture_tasks.py" in traced.stdout and "in flaky" in traced.stdout

    exec_traced = failing_run(fixture_stack, tmp_path / "b", "--trace")
    assert "cause: attempt 4 failed" in exec_traced.stdout
    assert "in flaky" in exec_traced.stdout


def test_listings_print_json(fixture_stack: StackProcess, tmp_path: Path) -> None:
    fixture_stack.cli("exec", "retry_catch", "--input", "{}", "--name", "cli-listed-run")
    listing = fixture_stack.cli("executions", "retry_catch", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    [row] = [r for r in rows if r["name"] == "cli-listed-run"]
    assert row["flow"] == "retry_catch"
    assert row["executionArn"].endswith(":cli-listed-run")
    assert row["startDate"].startswith("20")  # ISO 8601

    queues = fixture_stack.cli("dlq", "list", "--json")
    assert queues.returncode == 0, queues.stderr
    assert json.loads(queues.stdout) == fixture_stack.gateway.get("/_sluice/dlq")


def test_pipes_are_listed_with_what_they_delivered_and_stop_and_start(
    fixture_stack: StackProcess,
) -> None:
    name = "sluice-stream-pipe"

    def listed() -> dict[str, Any]:
        result = fixture_stack.cli("pipes", "list", "--json")
        assert result.returncode == 0, result.stderr
        return {p["name"]: p for p in json.loads(result.stdout)}

    before = listed()[name]
    assert before["state"] == "RUNNING" and before["kind"] == "pipe"
    assert "/stream/" in before["source"] and before["target"].endswith(":sluice-stream_target")
    table = fixture_stack.cli("pipes", "list").stdout
    assert name in table and "stream of sluice-items" in table and "RUNNING" in table

    stopped = fixture_stack.cli("pipes", "stop", name)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"{name} stopped"
    assert listed()[name]["state"] == "STOPPED"
    ddb = fixture_stack.client("dynamodb")
    table_name = fixture_stack.resource("ItemsTable")["name"]
    ddb.put_item(TableName=table_name, Item={"PK": {"S": f"ITEM#cli-{uuid.uuid4().hex}"}})
    assert listed()[name]["records_delivered"] == before["records_delivered"]

    started = fixture_stack.cli("pipes", "start", name)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == f"{name} running"
    wait_for(
        lambda: listed()[name]["records_delivered"] > before["records_delivered"],
        what="the record written while the pipe was stopped",
    )


def test_piped_output_keeps_full_values(fixture_stack: StackProcess) -> None:
    name = "cli-a-long-execution-name-that-a-forty-column-table-would-cut-short"
    fixture_stack.cli("exec", "retry_catch", "--input", "{}", "--name", name)
    narrow = subprocess.run(
        [sys.executable, "-m", "sluice", "executions", "retry_catch"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SLUICE_ENDPOINT": fixture_stack.gateway.url, "COLUMNS": "40"},
    )
    assert narrow.returncode == 0, narrow.stderr
    assert name in narrow.stdout
    assert "…" not in narrow.stdout


def cli_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("SLUICE_ENDPOINT", "AWS_ENDPOINT_URL")}
    return {**base, **env}


def test_aws_endpoint_url_is_honoured_and_sluice_endpoint_wins(
    fixture_stack: StackProcess,
) -> None:
    def executions(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sluice", "executions", "retry_catch"],
            capture_output=True,
            text=True,
            timeout=120,
            env=cli_env(**env),
        )

    url, nowhere = fixture_stack.gateway.url, "http://127.0.0.1:9"
    assert executions(AWS_ENDPOINT_URL=url).returncode == 0
    assert executions(SLUICE_ENDPOINT=url, AWS_ENDPOINT_URL=nowhere).returncode == 0
    wrong = executions(SLUICE_ENDPOINT=nowhere, AWS_ENDPOINT_URL=url)
    assert wrong.returncode == 1
    assert f"no Sluice gateway at {nowhere}" in wrong.stderr


# -- a sixth flow: app-side files and a template, nothing in the runtime -------------------

EXAMPLE = Path(__file__).parent / "example_flow"
EXAMPLE_ENV = {
    "PYTHONPATH": os.pathsep.join(
        [str(EXAMPLE), str(EXAMPLE / "site"), os.environ.get("PYTHONPATH", "")]
    )
}


@pytest.fixture(scope="module")
def example_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    stack = StackProcess(EXAMPLE / "template.yaml", tmp_path_factory.mktemp("example-flow"))
    yield stack
    stack.stop()


def example_cli(stack: StackProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluice", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(SLUICE_ENDPOINT=stack.gateway.url, COLUMNS="200", **EXAMPLE_ENV),
    )


def test_a_registered_flow_is_produced_through_its_trigger(example_stack: StackProcess) -> None:
    help_text = example_cli(example_stack, "produce", "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "greetings" in help_text.stdout
    assert "transcript_persistence" in help_text.stdout  # the project's flows stay registered
    assert "greetings" not in example_stack.cli("produce", "--help").stdout  # not registered

    produced = example_cli(example_stack, "produce", "greetings", "--count", "3")
    assert produced.returncode == 0, produced.stderr
    assert "put 3 greeting(s)" in produced.stdout
    runs = example_stack.wait_executions("greetings", 3, status="SUCCEEDED")
    assert sorted(r.output["greeting"] for r in runs) == [
        "hello, guest 1",
        "hello, guest 2",
        "hello, guest 3",
    ]


def test_sql_shows_a_fresh_stacks_declared_tables_empty(example_stack: StackProcess) -> None:
    assert not (example_stack.data_dir / "lake").exists()  # nothing has written the lake
    result = example_cli(
        example_stack,
        "sql",
        "--data-dir",
        str(example_stack.data_dir),
        "SELECT count(*) AS n FROM example.greetings",
    )
    assert result.returncode == 0, result.stderr
    assert "1 row(s)" in result.stdout
    rows = example_cli(
        example_stack,
        "sql",
        "--json",
        "--data-dir",
        str(example_stack.data_dir),
        "SELECT * FROM example.greetings",
    )
    assert rows.returncode == 0, rows.stderr
    assert json.loads(rows.stdout) == []


DURABLE_TEMPLATE = Path(__file__).resolve().parents[1] / "crash" / "fixture" / "template.yaml"


def _kept_state(stack: StackProcess) -> dict[str, Any]:
    """What a client sees of the stack's state: the item, the queue's messages, the object,
    the execution (status, history) and the console's pages of it."""
    item = (
        stack.client("dynamodb")
        .get_item(TableName=stack.resource("DeliveredTable")["name"], Key=KEPT_KEY)
        .get("Item")
    )
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=stack.resource("KeptQueue")["name"])["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    s3 = stack.client("s3")
    listed = s3.list_objects_v2(Bucket=stack.resource("KeptBucket")["name"]).get("Contents", [])
    sfn = stack.client("stepfunctions")
    machine = str(stack.resource("HoldMachine")["arn"])
    runs = sfn.list_executions(stateMachineArn=machine)["executions"]
    arn = runs[0]["executionArn"] if runs else None
    history = sfn.get_execution_history(executionArn=arn)["events"] if arn else []
    console = f"{stack.gateway.url}/console"
    page = graph = ""
    if arn:
        with urllib.request.urlopen(f"{console}/executions", timeout=30) as response:
            page = response.read().decode()
        query = urllib.parse.urlencode({"arn": arn})
        with urllib.request.urlopen(f"{console}/api/execution?{query}", timeout=30) as response:
            graph = json.loads(response.read())["html"]
    return {
        "item": item,
        "messages": [m["Body"] for m in messages.get("Messages", [])],
        "objects": {
            o["Key"]: s3.get_object(Bucket=stack.resource("KeptBucket")["name"], Key=o["Key"])[
                "Body"
            ].read()
            for o in listed
        },
        "executions": [(r["name"], r["status"]) for r in runs],
        "history": [e["type"] for e in history],
        "listed_in_console": arn is not None and execution_url(arn) in html.unescape(page),
        "graph_states": sorted(set(re.findall(r'data-id="(\w+)"', graph))),
    }


def _restarted(data_dir: Path) -> dict[str, Any]:
    stack = StackProcess(DURABLE_TEMPLATE, data_dir)
    try:
        return _kept_state(stack)
    finally:
        stack.stop()


KEPT_KEY = {"PK": {"S": "kept"}}


def test_state_survives_a_clean_stop_and_reset_clears_it(tmp_path: Path) -> None:
    """`sluice up` after a clean stop shows the same item, message, object and execution
    (history included), and the console lists the execution and draws its graph."""
    data_dir = tmp_path / "stack"
    stack = StackProcess(DURABLE_TEMPLATE, data_dir)
    try:
        table = stack.resource("DeliveredTable")["name"]
        stack.client("dynamodb").put_item(TableName=table, Item={**KEPT_KEY, "n": {"N": "1"}})
        sqs = stack.client("sqs")
        url = sqs.get_queue_url(QueueName=stack.resource("KeptQueue")["name"])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="kept message")
        bucket = stack.resource("KeptBucket")["name"]
        stack.client("s3").put_object(Bucket=bucket, Key="kept/object.txt", Body=b"kept bytes")
        sfn = stack.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=str(stack.resource("HoldMachine")["arn"]),
            name="kept",
            input=json.dumps({"wait": 0}),
        )["executionArn"]
        wait_for(
            lambda: sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED",
            what="the kept execution",
        )
        before = _kept_state(stack)
    finally:
        stack.stop()
    assert before["item"] == {**KEPT_KEY, "n": {"N": "1"}}
    assert before["messages"] == ["kept message"]
    assert before["objects"] == {"kept/object.txt": b"kept bytes"}
    assert before["executions"] == [("kept", "SUCCEEDED")]
    assert before["history"][0] == "ExecutionStarted"
    assert before["history"][-1] == "ExecutionSucceeded"
    assert before["listed_in_console"]
    assert before["graph_states"] == ["Done", "First", "Hold"]
    assert _restarted(data_dir) == before

    reset = subprocess.run(
        [sys.executable, "-m", "sluice", "reset", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert reset.returncode == 0, reset.stderr
    assert f"Cleared the saved stack state in {data_dir}" in reset.stdout
    assert _restarted(data_dir)["item"] is None


def test_reset_of_a_missing_data_directory_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = subprocess.run(
        [sys.executable, "-m", "sluice", "reset", "--data-dir", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"no data directory at {missing}" in result.stderr
    assert "Traceback" not in result.stderr
