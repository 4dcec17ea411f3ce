"""Virtual time: Waits and Retry intervals sleep `scale` x their length, histories read true.

The stack runs at time scale 0 (`StackProcess(..., time_scale=0)`); tests change it with
`stack.time_scale(x)`, which restores the stack's scale afterwards.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sluice.testing import StackProcess, free_port, module_stack, wait_for

TEMPLATE = Path(__file__).resolve().parent / "virtual_time" / "template.yaml"


vt_stack = module_stack(TEMPLATE, time_scale=0)


def _events(execution_events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in execution_events if e["type"] == kind]


def _seconds(later: datetime.datetime, earlier: datetime.datetime) -> float:
    return (later - earlier).total_seconds()


def _iso(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _post(stack: StackProcess, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        stack.gateway.url + "/_sluice/time-scale", data=body, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_an_hour_wait_and_three_backoff_retries_take_no_real_time_at_scale_0(
    vt_stack: StackProcess, tmp_path: Path
) -> None:
    started = time.monotonic()
    execution = vt_stack.run(
        "wait_retry", {"counter_file": str(tmp_path / "count"), "fail_times": 3}
    )
    wall = time.monotonic() - started
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["attempts"] == 4
    # 3,626 virtual seconds of waiting; the bound only says none of them was slept
    # (a loaded machine may take seconds to run the steps themselves).
    assert wall < 60, f"took {wall:.2f} s of wall time"

    events = execution.events
    entered = _events(events, "WaitStateEntered")[0]
    exited = _events(events, "WaitStateExited")[0]
    after_wait = events[events.index(exited) + 1]
    assert _seconds(exited["timestamp"], entered["timestamp"]) >= 3600
    assert _seconds(after_wait["timestamp"], entered["timestamp"]) >= 3600

    # Each retry is scheduled the backoff interval after the failure: 2 s, 6 s, 18 s.
    failed = _events(events, "TaskFailed")
    scheduled = _events(events, "TaskScheduled")
    assert (len(failed), len(scheduled)) == (3, 4)
    gaps = [
        _seconds(retry["timestamp"], failure["timestamp"])
        for failure, retry in zip(failed, scheduled[1:], strict=True)
    ]
    for gap, interval in zip(gaps, (2, 6, 18), strict=True):
        assert interval <= gap < interval + 2, gaps

    # Timestamps never go back, and the context object and stopDate read virtual time too.
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)
    desc = vt_stack.client("stepfunctions").describe_execution(executionArn=execution.arn)
    assert _seconds(desc["stopDate"], desc["startDate"]) >= 3600 + 26
    assert _seconds(_iso(execution.output["entered"]), _iso(execution.output["started"])) >= 3626


def test_scale_0_001_sleeps_a_thousandth_of_the_wait(vt_stack: StackProcess) -> None:
    with vt_stack.time_scale(0.001):
        started = time.monotonic()
        execution = vt_stack.run("wait_seconds", {"seconds": 1000})
        wall = time.monotonic() - started
    assert execution.status == "SUCCEEDED"
    assert wall >= 0.95, f"a 1000 s wait at 0.001 slept only {wall:.2f} s"
    entered = _events(execution.events, "WaitStateEntered")[0]
    exited = _events(execution.events, "WaitStateExited")[0]
    assert _seconds(exited["timestamp"], entered["timestamp"]) >= 1000


def test_jsonata_now_and_millis_read_the_virtual_clock(vt_stack: StackProcess) -> None:
    execution = vt_stack.run("wait_then_now", {"seconds": 7200})
    assert execution.status == "SUCCEEDED"
    out = execution.output
    now = datetime.datetime.fromtimestamp(out["millis"] / 1000, datetime.UTC)
    assert _seconds(now, _iso(out["started"])) >= 7200
    assert abs(_seconds(now, _iso(out["entered"]))) < 5
    assert abs(_seconds(_iso(out["now"]), now)) < 1


def test_timestamp_wait_compares_against_virtual_now(vt_stack: StackProcess) -> None:
    until = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(hours=2)
    execution = vt_stack.run("wait_until", {"until": until.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert execution.status == "SUCCEEDED"
    exited = _events(execution.events, "WaitStateExited")[0]
    assert exited["timestamp"] >= until
    assert _iso(execution.output["entered"]) >= until


def test_timestamp_in_the_past_does_not_wait(vt_stack: StackProcess) -> None:
    with vt_stack.time_scale(1):
        execution = vt_stack.run("wait_until", {"until": "2020-01-01T00:00:00Z"})
    assert execution.status == "SUCCEEDED"
    entered = _events(execution.events, "WaitStateEntered")[0]
    exited = _events(execution.events, "WaitStateExited")[0]
    assert _seconds(exited["timestamp"], entered["timestamp"]) < 5


def test_parallel_branches_waiting_together_do_not_add_up(vt_stack: StackProcess) -> None:
    execution = vt_stack.run("parallel_wait", {})
    assert execution.status == "SUCCEEDED"
    desc = vt_stack.client("stepfunctions").describe_execution(executionArn=execution.arn)
    elapsed = _seconds(desc["stopDate"], desc["startDate"])
    assert 360 <= elapsed < 600, elapsed  # max(300, 300) + 60, not 300 + 300 + 60


@pytest.mark.parametrize(("concurrency", "at_least", "below"), [(0, 200, 350), (1, 350, 400)])
def test_map_iterations_wait_side_by_side_up_to_max_concurrency(
    vt_stack: StackProcess, concurrency: int, at_least: float, below: float
) -> None:
    items = [{"seconds": 100}, {"seconds": 200}, {"seconds": 50}]
    execution = vt_stack.run("map_wait", {"items": items, "concurrency": concurrency})
    assert execution.status == "SUCCEEDED", execution.cause
    desc = vt_stack.client("stepfunctions").describe_execution(executionArn=execution.arn)
    assert at_least <= _seconds(desc["stopDate"], desc["startDate"]) < below


def test_a_sleeping_wait_can_still_be_stopped(vt_stack: StackProcess) -> None:
    sfn = vt_stack.client("stepfunctions")
    with vt_stack.time_scale(1):
        arn = vt_stack.start("wait_seconds", {"seconds": 3600})
        wait_for(
            lambda: any(
                e["type"] == "WaitStateEntered"
                for e in sfn.get_execution_history(executionArn=arn)["events"]
            ),
            what="the Wait state to start",
        )
        sfn.stop_execution(executionArn=arn, error="Stopped", cause="by the test")
        execution = vt_stack.execution(arn, timeout=15)
    assert execution.status == "ABORTED"


def test_per_test_scale_is_restored_to_the_stack_default(vt_stack: StackProcess) -> None:
    assert vt_stack.gateway.get("/_sluice/time-scale") == {"scale": 0}
    with vt_stack.time_scale(0.25) as scale:
        assert scale == 0.25
        assert vt_stack.gateway.get("/_sluice/time-scale") == {"scale": 0.25}
    assert vt_stack.gateway.get("/_sluice/time-scale") == {"scale": 0}
    with pytest.raises(RuntimeError), vt_stack.time_scale(3):
        raise RuntimeError("the test failed inside the block")
    assert vt_stack.gateway.get("/_sluice/time-scale") == {"scale": 0}


@pytest.mark.parametrize(
    "body",
    [b'{"scale": -1}', b'{"scale": "fast"}', b'{"scale": true}', b'{"speed": 0}', b"nope"],
)
def test_bad_time_scale_is_a_400_with_a_clear_error(vt_stack: StackProcess, body: bytes) -> None:
    status, answer = _post(vt_stack, body)
    assert status == 400
    assert "scale" in answer["error"]
    assert vt_stack.gateway.get("/_sluice/time-scale") == {"scale": 0}


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--time-scale", "-1"], {}),
        (["--time-scale", "soon"], {}),
        ([], {"SLUICE_TIME_SCALE": "x"}),
    ],
)
def test_sluice_up_rejects_a_bad_time_scale_in_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "sluice", "up", "--template", str(TEMPLATE)),
            *("--port", str(free_port()), "--data-dir", str(tmp_path), *args),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**_clean_env(), **env},
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "time scale must be a number >= 0" in lines[0], result.stderr


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SLUICE_TIME_SCALE"}
