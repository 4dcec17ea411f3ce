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
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from schemas.transcript_persistence import CALL_ID_PATTERN, FLOW, HASH_KEY, CallRecording
from tasks.common.http_api import json_response, publish_openapi

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE_ENV = "CALL_RECORDINGS_TABLE"

logger = Logger(service=FLOW)
tracer = Tracer(service=FLOW)
app = APIGatewayHttpResolver(enable_validation=True)
# Before the callId route, which would otherwise take "openapi.json" for a callId.
publish_openapi(app, "/analytics/openapi.json", title="Call analytics")
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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
