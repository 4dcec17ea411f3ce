"""The CLI against a running stack: clear one-line errors, history of a failed execution."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sluice.testing import StackProcess


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["exec", "no_such_flow"], "unknown flow 'no_such_flow'"),
        (["exec", "retry_catch", "--input", "{not json"], "input is not valid JSON"),
        (["exec", "retry_catch", "--input", "@/nonexistent/input.json"], "cannot read input file"),
        (["history", "no-such-execution"], "no execution named 'no-such-execution'"),
        (["executions", "no_such_flow"], "unknown flow 'no_such_flow'"),
    ],
)
def test_bad_input_gives_one_clear_line_and_a_nonzero_exit(
    fixture_stack: StackProcess, args: list[str], message: str
) -> None:
    result = fixture_stack.cli(*args)
    assert result.returncode != 0
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
    assert "no Sluice gateway at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


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
