"""The console in headless Chromium against live stacks: what a user sees and clicks."""

from __future__ import annotations

import json
import re
from itertools import combinations
from typing import Any
from urllib.parse import unquote

from console_support import DRILL_INPUT, ConsoleStack, sqs_record

from sluice.testing import wait_for


def node_class(page: Any, node_id: str) -> str:
    return str(page.locator(f'#graph g.node[data-id="{node_id}"]').get_attribute("class"))


def open_drill_failure(stack: ConsoleStack, page: Any) -> None:
    stack.execution(stack.drill_arn)  # wait until it has failed
    page.goto(f"{stack.console}/executions?flow=drill&status=FAILED")
    row = page.locator("table.executions tr.execution").filter(
        has_text=stack.drill_arn.rsplit(":", 1)[-1]
    )
    row.locator("a").click()
    page.wait_for_selector("#run-title")


def test_failed_execution_shows_the_failed_state_with_error_cause_and_retries(
    console_stack: ConsoleStack, page: Any
) -> None:
    open_drill_failure(console_stack, page)

    assert page.locator("#execution-status").inner_text().strip() == "failed"
    # The failed state is selected by default and coloured; the rest by what happened.
    assert re.search(r"\bst-failed\b.*\bselected\b", node_class(page, "Finish"))
    assert "st-succeeded" in node_class(page, "Route")
    assert "st-caught" in node_class(page, "FanOut")
    assert "st-caught" in node_class(page, "EachItem")
    assert "st-failed" in node_class(page, "FanOut/1/Explode")
    assert "st-not_reached" in node_class(page, "Done")
    assert page.locator("#graph path.edge.catch").count() == 2

    panel = page.locator("#panel")
    assert panel.locator("#run-title").get_attribute("data-state") == "Finish"
    assert panel.locator(".panel-error").inner_text() == "UpstreamUnavailable"
    assert "upstream down for order 7" in panel.locator(".panel-cause").inner_text()
    attempts = panel.locator("table.attempts tbody tr")
    assert attempts.count() == 3  # MaxAttempts 2 retries after the first try
    assert all("UpstreamUnavailable" in t for t in attempts.all_inner_texts())
    assert json.loads(panel.locator(".panel-input").inner_text())["order"] == 7
    # The raw history is there too.
    timeline = page.locator("table.timeline").inner_text()
    assert "ExecutionFailed" in timeline and "MapIterationFailed" in timeline


def test_parallel_branch_and_map_iteration_drill_down(
    console_stack: ConsoleStack, page: Any
) -> None:
    open_drill_failure(console_stack, page)

    # Click the Parallel's second branch in the graph: its runs, the failed one first class.
    page.locator('#graph g.lane[data-id="FanOut/1"] text').click()
    page.wait_for_url(re.compile(r"run=FanOut%2F1$"))
    assert "branch 2" in page.locator("#scope-title").inner_text()
    explode = page.locator('table.scope-runs tr[data-state="Explode"]')
    assert explode.get_attribute("data-status") == "failed"
    assert "ExplodeError" in explode.inner_text()
    explode.locator("a").click()
    assert page.locator(".panel-error").inner_text() == "ExplodeError"
    assert "branch 2 blew up on purpose" in page.locator(".panel-cause").inner_text()
    assert "selected" in node_class(page, "FanOut/1/Explode")

    # The Map: pick an iteration; the graph shows that iteration's states.
    page.locator('#graph g.container[data-id="EachItem"] text').click()
    assert page.locator("#run-title").get_attribute("data-state") == "EachItem"
    options = page.locator("#iteration-picker option").all_inner_texts()
    assert "iteration 0: succeeded" in options and "iteration 1: failed" in options
    page.select_option("#iteration-picker", label="iteration 1: failed")
    page.wait_for_url(re.compile(r"run=EachItem%2F1$"))
    assert "iteration 1" in page.locator("#scope-title").inner_text()
    reject = page.locator('table.scope-runs tr[data-state="Reject"]')
    assert reject.get_attribute("data-status") == "failed"
    assert "BadItem" in reject.inner_text()
    assert "st-failed" in node_class(page, "EachItem/Reject")
    assert "st-not_reached" in node_class(page, "EachItem/Accept")

    page.select_option("#iteration-picker", label="iteration 0: succeeded")
    page.wait_for_url(re.compile(r"run=EachItem%2F0$"))
    assert "st-succeeded" in node_class(page, "EachItem/Accept")
    assert "st-not_reached" in node_class(page, "EachItem/Reject")


def test_state_machines_page_lists_flows_with_triggers_counts_and_asl(
    console_stack: ConsoleStack, page: Any
) -> None:
    console_stack.execution(console_stack.drill_arn)
    page.goto(console_stack.console)
    drill = page.locator('table.flows tr[data-flow="drill"]')
    reject = page.locator('table.flows tr[data-flow="reject"]')
    assert "STANDARD" in drill.inner_text() and "EXPRESS" in reject.inner_text()
    assert "EventBridge rule sluice-drill-Kick" in drill.inner_text()
    assert "Pipe sluice-work-pipe ← SQS sluice-work" in reject.inner_text()
    assert re.search(r"failed\s+\d+", drill.locator(".counts").inner_text())

    drill.get_by_role("link", name="ASL").click()
    # The click navigates: wait for the ASL page's graph, as a reader would.
    page.locator("#graph, .graph-wrap svg").first.wait_for(state="attached")
    assert '"StartAt": "Route"' in page.locator("pre.asl").inner_text()

    # Executions list: filter by status, newest first, with the error.
    page.goto(f"{console_stack.console}/executions")
    page.select_option("#flow-filter", "drill")
    page.select_option("#status-filter", "FAILED")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.executions tr.execution")
    assert rows.count() >= 1
    assert {r.get_attribute("data-status") for r in rows.all()} == {"FAILED"}
    assert "UpstreamUnavailable" in rows.first.inner_text()


LABEL_BOXES = """() => [...document.querySelectorAll('svg.graph text.elabel')].map(t => {
    const box = t.getBBox();
    return {x: box.x, y: box.y, w: box.width, h: box.height, edge: t.dataset.source + ' -> '
        + t.dataset.target};
})"""


def test_edge_labels_of_every_flow_overlap_no_other_label_as_drawn(
    real_console_stack: ConsoleStack, page: Any
) -> None:
    page.goto(real_console_stack.console)
    flows = [row.get_attribute("data-flow") for row in page.locator("table.flows tr").all()]
    flows = [flow for flow in flows if flow]
    assert "sale_dual_write" in flows
    drawn: dict[str, int] = {}
    for flow in flows:
        page.goto(f"{real_console_stack.console}/flow?flow={flow}")
        boxes = page.evaluate(LABEL_BOXES)
        drawn[flow] = len(boxes)
        for a, b in combinations(boxes, 2):
            apart = (
                a["x"] + a["w"] <= b["x"]
                or b["x"] + b["w"] <= a["x"]
                or a["y"] + a["h"] <= b["y"]
                or b["y"] + b["h"] <= a["y"]
            )
            assert apart, f"{flow}: the labels of {a['edge']} and {b['edge']} overlap"
    # WhoHoldsTheClaim's four rules and default are among them.
    assert drawn["sale_dual_write"] >= 5


def test_start_with_invalid_input_shows_why_next_to_the_input(
    real_console_stack: ConsoleStack, page: Any
) -> None:
    page.goto(f"{real_console_stack.console}/start?flow=transcript_persistence")
    assert "schemas.transcript_persistence.ExecutionInput" in page.inner_text("form.start")

    page.fill("#input", '[{"messageId": "m-1"}]')
    page.click("#start-button")
    errors = page.locator("#input-errors")
    assert "0.receiptHandle: Field required" in errors.inner_text()
    assert page.input_value("#input") == '[{"messageId": "m-1"}]'  # kept for fixing

    page.fill("#input", "[{")
    page.click("#start-button")
    assert "not valid JSON" in page.locator("#input-errors").inner_text()
    # Nothing was started by either attempt.
    assert real_console_stack.executions("transcript_persistence", "RUNNING") == []


def test_start_with_valid_input_and_watch_it_finish(
    real_console_stack: ConsoleStack, page: Any
) -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}
    page.goto(f"{real_console_stack.console}/start?flow=transcript_persistence")
    page.fill("#input", json.dumps([sqs_record(test_event, "console-started")]))
    page.click("#start-button")
    page.wait_for_url(re.compile(r"/console/execution\?arn="))
    page.wait_for_function(
        "document.querySelector('#execution-status').innerText.trim() === 'succeeded'",
        timeout=20_000,
    )
    page.reload()
    assert "st-succeeded" in node_class(page, "PersistEachMessage/MarkSkipped")
    assert "st-not_reached" in node_class(page, "PersistEachMessage/PutRecording")


def test_running_execution_refreshes_live_until_it_ends(
    console_stack: ConsoleStack, page: Any
) -> None:
    page.goto(f"{console_stack.console}/start?flow=drill")
    page.fill("#input", '{"mode": "slow"}')
    page.click("#start-button")
    page.wait_for_url(re.compile(r"/console/execution\?arn="))
    assert page.locator("#main").get_attribute("data-status") == "RUNNING"
    page.evaluate("window.__sameDocument = true")
    page.wait_for_function(
        "document.querySelector('#graph g[data-id=\"Pause\"]').classList.contains('st-in_progress')"
    )
    page.wait_for_function(
        "document.querySelector('#main').dataset.status === 'SUCCEEDED'", timeout=20_000
    )
    # Updated in place by polling, not by reloading the page.
    assert page.evaluate("window.__sameDocument") is True
    assert "st-succeeded" in node_class(page, "Done")
    assert "st-not_reached" in node_class(page, "FanOut")


def test_start_again_with_the_same_input(console_stack: ConsoleStack, page: Any) -> None:
    open_drill_failure(console_stack, page)
    page.click("#start-again")
    assert json.loads(page.input_value("#input")) == DRILL_INPUT
    page.click("#start-button")
    page.wait_for_url(re.compile(r"/console/execution\?arn="))
    arn = unquote(page.url.split("arn=", 1)[1])
    assert arn != console_stack.drill_arn
    sfn = console_stack.client("stepfunctions")
    assert json.loads(sfn.describe_execution(executionArn=arn)["input"]) == DRILL_INPUT


def test_dead_letter_queue_shows_why_and_redrives(console_stack: ConsoleStack, page: Any) -> None:
    sqs = console_stack.client("sqs")
    dlq_url = console_stack.resource("WorkDlq")["url"]

    def depth() -> int:
        attrs = sqs.get_queue_attributes(
            QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])

    wait_for(lambda: depth() >= 1, timeout=30, what="the message in the DLQ")
    before = len(console_stack.executions("reject"))
    page.goto(f"{console_stack.console}/dlqs")
    section = page.locator('section.dlq[data-queue="sluice-work-dlq"]')
    assert "sluice-work" in section.inner_text()  # fed by the work queue
    message = section.locator("tr.message")
    assert message.count() == 1
    assert "BatchItemFailures" in message.locator(".reason").inner_text()

    section.locator("button.redrive").click()
    assert "sluice-work-dlq: redrove 1 message(s)" in page.locator("#notice").inner_text()
    section = page.locator('section.dlq[data-queue="sluice-work-dlq"]')
    assert section.locator("tr.message").count() == 0
    # Back in its source queue, the Pipe delivers it again.
    wait_for(
        lambda: len(console_stack.executions("reject")) > before,
        timeout=20,
        what="the redriven message to be delivered again",
    )


def test_pipes_page_stops_and_starts_a_pipe(console_stack: ConsoleStack, page: Any) -> None:
    pipes, name = console_stack.client("pipes"), "sluice-work-pipe"

    def row() -> Any:
        return page.locator(f'tr.pipe[data-pipe="{name}"]')

    def shows(state: str) -> bool:
        page.goto(f"{console_stack.console}/pipes")
        return bool(row().locator("td.state").inner_text() == state)

    page.goto(f"{console_stack.console}/pipes")
    assert "sluice-work" in row().inner_text()  # its source queue
    assert row().locator("td.state").inner_text() == "RUNNING"
    try:
        row().locator("button", has_text="Stop").click()
        assert "sluice-work-pipe: stopping" in page.locator("#notice").inner_text()
        assert pipes.describe_pipe(Name=name)["DesiredState"] == "STOPPED"
        wait_for(lambda: shows("STOPPED"), what="the pipe shown stopped")
        row().locator("button", has_text="Start").click()
        assert "sluice-work-pipe: started" in page.locator("#notice").inner_text()
        assert row().locator("td.state").inner_text() == "RUNNING"
    finally:
        pipes.start_pipe(Name=name)
