"""Read-only usage endpoints: Lambda's billed figures and AWS requests per API."""

from __future__ import annotations

import urllib.request
from typing import Any

from sluice.testing import StackProcess


def _function_usage(stack: StackProcess, function: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = stack.gateway.get("/_sluice/lambda/usage")
    return next((r for r in rows if r["function"] == function), {})


def _requests(stack: StackProcess, operation: str, resource: str) -> int:
    rows: list[dict[str, Any]] = stack.gateway.get("/_sluice/requests")
    return sum(
        r["requests"]
        for r in rows
        if (r["service"], r["operation"], r["resource"]) == ("dynamodb", operation, resource)
    )


def test_lambda_usage_counts_each_invoke_with_its_memory(stack: StackProcess) -> None:
    function = "ArtistSearchApiFunction"  # the HTTP API's GET /artists/search
    before = _function_usage(stack, function).get("invocations", 0)
    with urllib.request.urlopen(f"{stack.gateway.url}/artists/search?city=Leeds") as resp:
        assert resp.status == 200
    after = _function_usage(stack, function)
    assert after["invocations"] == before + 1
    assert after["memory_mb"] == 512  # the template's MemorySize (Globals)
    assert after["billed_ms"] >= 1
    assert after["gb_seconds"] == after["memory_mb"] / 1024 * after["billed_ms"] / 1000


def test_requests_count_dynamodb_calls_by_table(stack: StackProcess) -> None:
    table = stack.resource("CallRecordingsTable")["name"]
    ddb = stack.client("dynamodb")
    before = _requests(stack, "GetItem", table)
    for _ in range(2):
        got = ddb.get_item(TableName=table, Key={"hash": {"S": "usage-no-such-call"}})
        assert "Item" not in got  # the counted request was still answered
    assert _requests(stack, "GetItem", table) == before + 2


def test_requests_count_the_dynamodb_calls_of_an_executions_tasks(stack: StackProcess) -> None:
    """A task's call is answered in process, without HTTP, and still counted: the mocked
    load hands PutRecording one record, which it puts into the table."""
    table = stack.resource("CallRecordingsTable")["name"]
    before = _requests(stack, "PutItem", table)
    batch = [{"messageId": "usage-message", "body": "{}"}]
    execution = stack.run("transcript_persistence", batch, test_case="MockedLoad")
    assert execution.status == "SUCCEEDED"
    assert execution.state("PutRecording").status == "succeeded"
    assert _requests(stack, "PutItem", table) == before + 1
