"""`GET /analytics/{callId}`: one stored CallRecording (API Gateway HTTP API, payload v2).

200 with the record, 404 when no record exists, 400 when callId does not match
`CALL_ID_PATTERN` (checked after the one percent-decoding, so not by the route's model).
Reads the table named by `CALL_RECORDINGS_TABLE`. `GET /analytics/openapi.json` is the
API's OpenAPI document.

    $ curl http://127.0.0.1:4566/analytics/call-001
    {"callId": "call-001", "timestamp": 1736468400000, "topics": [...], ...}
"""

from __future__ import annotations

import functools
import os
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import boto3
from aws_lambda_powertools.event_handler import Response

from schemas.transcript_persistence import CALL_ID_PATTERN, FLOW, HASH_KEY, CallRecording
from tasks.common.http_api import http_app, http_handler, json_response
from tasks.common.powertools import powertools

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE_ENV = "CALL_RECORDINGS_TABLE"

logger, tracer, metrics = powertools(FLOW)
app = http_app("/analytics/openapi.json", "Call analytics")
_CALL_ID = re.compile(CALL_ID_PATTERN)


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb")


@app.get("/analytics/<call_id>", summary="One call's stored analytics")
def get_analytics(call_id: str) -> Response[Any]:
    # The route captures the raw (still percent-encoded) path segment; decode it once.
    call_id = unquote(call_id)
    if not _CALL_ID.fullmatch(call_id):
        return json_response(
            HTTPStatus.BAD_REQUEST, {"message": f"callId must match {CALL_ID_PATTERN}"}
        )
    response = dynamodb_client().get_item(
        TableName=os.environ[TABLE_ENV], Key={HASH_KEY: {"S": call_id}}
    )
    item = response.get("Item")
    if item is None:
        return json_response(
            HTTPStatus.NOT_FOUND, {"message": f"no call recording for {call_id!r}"}
        )
    return json_response(
        HTTPStatus.OK, CallRecording.from_dynamodb_item(item).model_dump(mode="json")
    )


handler = http_handler(app, logger, tracer)
