"""The Redrive button on a failed Standard execution's page."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import unquote, urlencode

import pytest
from console_support import DRILL_INPUT, ConsoleStack

from sluice.testing import wait_for


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: str = response.read().decode()
        return body


def post(url: str, form: dict[str, str]) -> tuple[int, str, str]:
    data = urlencode(form).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
        return response.status, response.url, response.read().decode()


def test_redrive_button_redrives_a_failed_execution(console_stack: ConsoleStack) -> None:
    sfn = console_stack.client("stepfunctions")
    arn = console_stack.start("drill", DRILL_INPUT)
    assert console_stack.execution(arn).status == "FAILED"
    page = get(f"{console_stack.console}/execution?{urlencode({'arn': arn})}")
    assert 'id="redrive-execution"' in page
    assert 'action="/console/execution/redrive"' in page

    # The form posts, then lands (303) on the same execution's page.
    status, landed, _ = post(f"{console_stack.console}/execution/redrive", {"arn": arn})
    assert status == 200 and landed.endswith(f"/console/execution?{urlencode({'arn': arn})}")
    desc = wait_for(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
        what="the redriven drill execution to end",
    )
    assert desc["redriveCount"] == 1
    assert desc["status"] == "FAILED"  # the drill fails on every run
    history = sfn.get_execution_history(executionArn=arn)["events"]
    assert [e["type"] for e in history].count("ExecutionRedriven") == 1
    page = get(f"{console_stack.console}/execution?{urlencode({'arn': arn})}")
    assert "redriven 1 time(s)" in page


def test_redrive_of_an_unknown_execution_is_an_error_page(console_stack: ConsoleStack) -> None:
    arn = console_stack.flow_arn("drill").replace(":stateMachine:", ":execution:") + ":nope"
    with pytest.raises(urllib.error.HTTPError) as caught:
        post(f"{console_stack.console}/execution/redrive", {"arn": arn})
    assert caught.value.code == 404
    assert "ExecutionDoesNotExist" in caught.value.read().decode()


def test_redrive_button_in_the_browser(console_stack: ConsoleStack, page: Any) -> None:
    sfn = console_stack.client("stepfunctions")
    arn = console_stack.start("drill", DRILL_INPUT)
    assert console_stack.execution(arn).status == "FAILED"
    page.goto(f"{console_stack.console}/execution?{urlencode({'arn': arn})}")
    page.click("#redrive-execution")
    page.wait_for_url(re.compile(r"/console/execution\?arn="))
    assert unquote(page.url.split("arn=", 1)[1]) == arn
    wait_for(
        lambda: sfn.describe_execution(executionArn=arn)["status"] == "FAILED",
        what="the redriven drill execution to fail again",
    )
    assert sfn.describe_execution(executionArn=arn)["redriveCount"] == 1
    page.wait_for_selector("text=redriven 1 time(s)", timeout=15_000)
