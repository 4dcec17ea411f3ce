"""The console's "Test this state" in headless Chromium: any state of an execution run again
through TestState from the input it had, answering as the Step Functions API documents."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from console_support import ConsoleStack


def open_state(stack: ConsoleStack, page: Any, state: str | None = None) -> None:
    """The drill execution's page with STATE selected (by default, the failed one)."""
    stack.execution(stack.drill_arn)  # wait until it has failed
    run = f"&run={quote(state)}" if state else ""
    page.goto(f"{stack.console}/execution?arn={quote(stack.drill_arn)}{run}")
    page.wait_for_selector("#run-title")


def run_test(page: Any, level: str | None = None) -> Any:
    if level:
        page.select_option("#inspection-level", level)
    page.locator("#run-test").click()
    return page.wait_for_selector("#test-result, #test-problem")


def test_a_failed_task_is_tested_again_from_its_recorded_input(
    console_stack: ConsoleStack, page: Any
) -> None:
    open_state(console_stack, page)
    recorded = json.loads(page.locator(".panel-input").inner_text())
    page.locator("#test-state").click()

    assert page.locator("#test-title").get_attribute("data-state") == "Finish"
    assert json.loads(page.locator("#test-input").input_value()) == recorded
    definition = json.loads(page.locator("#test-definition").input_value())
    assert definition["Resource"] == "arn:aws:states:::lambda:invoke"

    # The upstream function still fails; its retrier has attempts left, so TestState
    # answers RETRIABLE (it does not run the retries) and names the retrier.
    run_test(page, "DEBUG")
    assert page.locator("#test-result").get_attribute("data-status") == "RETRIABLE"
    assert page.locator("#test-error").inner_text() == "UpstreamUnavailable"
    assert "upstream down for order 7" in page.locator(".test-cause").inner_text()
    details = page.locator('table.inspection tr[data-key="errorDetails"]').inner_text()
    assert '"retryIndex": 0' in details

    # With the input fixed, the function answers and the state succeeds; it ends the machine.
    page.locator("#test-input").fill(json.dumps({**recorded, "upstream": "up"}))
    run_test(page)
    assert page.locator("#test-result").get_attribute("data-status") == "SUCCEEDED"
    assert json.loads(page.locator("#test-output").inner_text())["Payload"] == {"ok": True}
    assert page.locator("#test-next-state").count() == 0


def test_a_choice_state_answers_the_next_state_it_chose(
    console_stack: ConsoleStack, page: Any
) -> None:
    open_state(console_stack, page, "Route")
    page.locator("#test-state").click()
    run_test(page)
    assert page.locator("#test-result").get_attribute("data-status") == "SUCCEEDED"
    assert page.locator("#test-next-state").inner_text() == "FanOut"  # no mode: the Default

    page.locator("#test-input").fill('{"mode": "quick"}')
    run_test(page)
    assert page.locator("#test-next-state").inner_text() == "Done"


def test_a_state_inside_a_parallel_branch_is_tested_with_its_own_definition(
    console_stack: ConsoleStack, page: Any
) -> None:
    open_state(console_stack, page, "FanOut/1/Explode")
    page.locator("#test-state").click()
    definition = json.loads(page.locator("#test-definition").input_value())
    assert definition["Type"] == "Task" and definition["End"] is True
    run_test(page)
    # No Retry or Catch on this state: the function's error fails it.
    assert page.locator("#test-result").get_attribute("data-status") == "FAILED"
    assert page.locator("#test-error").inner_text() == "ExplodeError"
    assert "branch 2 blew up on purpose" in page.locator(".test-cause").inner_text()


def test_input_that_is_not_json_is_reported(console_stack: ConsoleStack, page: Any) -> None:
    open_state(console_stack, page, "Route")
    page.locator("#test-state").click()
    page.locator("#test-input").fill("{not json")
    run_test(page)
    assert "InvalidExecutionInput" in page.locator("#test-problem").inner_text()
    assert page.locator("#test-input").input_value() == "{not json"  # kept for editing
