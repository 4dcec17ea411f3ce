"""The console's JSON, the SVG for `sluice render`, and the flows' input schemas."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlencode

from console_support import ConsoleStack, sqs_record

from sluice.console import render_execution_svg
from sluice.console.service import schema_for, validate_input
from sluice.testing import StackProcess, wait_for


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode()


def test_execution_json_for_live_refresh(console_stack: ConsoleStack) -> None:
    console_stack.execution(console_stack.drill_arn)
    status, body = get(
        f"{console_stack.console}/api/execution?{urlencode({'arn': console_stack.drill_arn})}"
    )
    data = json.loads(body)
    assert status == 200 and data["status"] == "FAILED"
    assert data["statuses"]["Finish"] == "failed" and data["statuses"]["FanOut"] == "caught"
    assert data["error"] == "UpstreamUnavailable"
    assert 'data-status="FAILED"' in data["html"] and 'id="panel"' in data["html"]


def test_render_execution_svg_colours_the_failed_run(console_stack: ConsoleStack) -> None:
    console_stack.execution(console_stack.drill_arn)
    svg = render_execution_svg(console_stack.gateway.url, console_stack.drill_arn)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert 'class="node state type-Task st-failed selected" data-id="Finish"' in svg
    assert "<a href" not in svg  # a standalone file has nowhere to link to


def test_static_assets_are_served_locally(console_stack: ConsoleStack) -> None:
    status, page = get(console_stack.console)
    assert status == 200
    assert "http://" not in page.replace(console_stack.gateway.url, "")  # no CDN
    for asset in ("console.css", "console.js"):
        status, body = get(f"{console_stack.console}/static/{asset}")
        assert status == 200 and len(body) > 100


def test_transcript_persistence_schema_accepts_what_its_pipe_sends(
    real_console_stack: ConsoleStack,
) -> None:
    schema = schema_for("transcript_persistence")
    assert schema is not None
    sfn = real_console_stack.client("stepfunctions")

    def piped_input() -> str | None:
        for run in real_console_stack.executions("transcript_persistence", "SUCCEEDED"):
            text = sfn.describe_execution(executionArn=run["executionArn"])["input"]
            if "console-1" in text:
                return str(text)
        return None

    piped = [wait_for(piped_input, what="the execution the Pipe started for console-1")]
    assert validate_input(piped[0], schema) == []
    assert validate_input("[]", schema) != []  # a Pipe never sends an empty batch
    assert validate_input(json.dumps([sqs_record({"x": 1})]), schema) == []
    assert schema_for("no_such_flow") is None


def test_sluice_up_serves_the_console(fixture_stack: StackProcess) -> None:
    """`sluice up` itself mounts the console (sluice/stack.py)."""
    status, page = get(f"{fixture_stack.gateway.url}/console")
    assert status == 200 and "State machines" in page and "retry_catch" in page
