"""GET /analytics/{callId} against a moto CallRecordings table, with HTTP API v2 payloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError
from http_api_events import get_event

from schemas.transcript_persistence import CALL_ID_PATTERN, CallRecording
from sluice.in_process import lambda_context
from sluice.testing import in_process_aws
from tasks.transcript_persistence import analytics_api

REGION = "us-east-1"
TABLE = "sluice-call-recordings"


CONTEXT = lambda_context("AnalyticsApi")


def http_event(raw_path: str, stage: str = "$default") -> dict[str, Any]:
    segment = unquote(raw_path.rsplit("/", 1)[-1])
    route = "GET /analytics/{callId}"
    return get_event(route, raw_path, stage=stage, path_parameters={"callId": segment})


RECORDING = CallRecording(
    callId="call-001",
    timestamp=1736468400000,
    topics=["self-identity", "art", "culture"],
    callCategories=["General inquiries"],
    callSummary="The speaker discusses art.",
    s3Key="transcription-outputs/call-001/job/0/custom_output/0/result.json",
)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("CALL_RECORDINGS_TABLE", TABLE)
    analytics_api.dynamodb_client.cache_clear()
    with in_process_aws({}) as moto:
        moto.create_table(TABLE, "hash")
        ddb = moto.client("dynamodb")
        ddb.put_item(TableName=TABLE, Item=RECORDING.to_dynamodb_item())
        yield ddb
    analytics_api.dynamodb_client.cache_clear()


def _call(event: dict[str, Any]) -> tuple[int, Any]:
    response = analytics_api.handler(event, CONTEXT)
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def test_stored_record_is_returned(table: Any) -> None:
    status, body = _call(http_event("/analytics/call-001"))

    assert status == 200
    assert body == {
        "callId": "call-001",
        "timestamp": 1736468400000,
        "topics": ["self-identity", "art", "culture"],
        "callCategories": ["General inquiries"],
        "callSummary": "The speaker discusses art.",
        "s3Key": "transcription-outputs/call-001/job/0/custom_output/0/result.json",
    }


def test_named_stage_prefix_is_not_part_of_the_route(table: Any) -> None:
    status, body = _call(http_event("/dev/analytics/call-001", stage="dev"))

    assert (status, body["callId"]) == (200, "call-001")


def test_unknown_call_is_404(table: Any) -> None:
    status, body = _call(http_event("/analytics/call-999"))

    assert status == 404
    assert body == {"message": "no call recording for 'call-999'"}


@pytest.mark.parametrize(
    "raw_path",
    [
        "/analytics/%20leading-space",
        "/analytics/a%2Fb",
        "/analytics/ctrl%01char",
        "/analytics/" + "x" * 129,
    ],
)
def test_malformed_call_id_is_400(table: Any, raw_path: str) -> None:
    status, body = _call(http_event(raw_path))

    assert status == 400
    assert body == {"message": f"callId must match {CALL_ID_PATTERN}"}


def test_percent_encoding_is_decoded_once(table: Any) -> None:
    # `call%2D001` is `call-001`; `call%252D001` is the literal `call%2D001`: valid, unknown.
    assert _call(http_event("/analytics/call%2D001"))[0] == 200
    assert _call(http_event("/analytics/call%252D001")) == (
        404,
        {"message": "no call recording for 'call%2D001'"},
    )


def test_table_comes_from_the_environment(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALL_RECORDINGS_TABLE", "some-other-table")

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        analytics_api.handler(http_event("/analytics/call-001"), CONTEXT)


def test_the_api_publishes_its_openapi_document(table: Any) -> None:
    status, document = _call(http_event("/analytics/openapi.json"))

    assert status == 200
    assert document["openapi"].startswith("3.")
    assert "get" in document["paths"]["/analytics/{call_id}"]
