"""How many requests each AWS API got: what SQS, DynamoDB, S3 and EventBridge bill for.

The gateway counts every AWS request it answers, including the ones the engine's service
integrations hand it in process, by service, operation and resource (the DynamoDB table,
the SQS queue, the S3 bucket). `items` adds up what batch calls carry (PutEvents entries,
SendMessageBatch/DeleteMessageBatch entries, BatchWriteItem requests, BatchGetItem keys),
since some services bill those rather than calls. Lambda invokes are not requests here
(the engine calls the runtime directly): `LambdaRuntime.usage` counts them.

    GET /_sluice/requests -> [{"service": "dynamodb", "operation": "PutItem",
                               "resource": "sluice-CallRecordings", "requests": 3, "items": 3}]
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, unquote

ENDPOINT = "/_sluice/requests"

_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"X-Amz-Credential=[^&]*?%2F\d{8}%2F[^%&]+%2F([^%&]+)%2Faws4_request")
_TARGET_SERVICES = {
    "DynamoDB_20120810": "dynamodb",
    "DynamoDBStreams_20120810": "dynamodbstreams",
    "AmazonSQS": "sqs",
    "AWSEvents": "events",
    "AWSStepFunctions": "stepfunctions",
}
# JSON services whose body names the resource and batch size (read, then replayed to moto).
_READ_BODY = ("dynamodb", "sqs", "events")
_BATCH_ENTRIES = {"PutEvents", "SendMessageBatch", "DeleteMessageBatch"}
_BUCKET_SUBRESOURCES = {
    "acl",
    "cors",
    "lifecycle",
    "location",
    "notification",
    "policy",
    "tagging",
    "uploads",
    "versioning",
    "versions",
}

Key = tuple[str, str, str]


def classify(environ: dict[str, Any]) -> tuple[str, str, str, int] | None:
    """(service, operation, resource, items) of an AWS request; None for anything else.

    May read the body of a JSON request; it is then put back for whoever answers it.
    """
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        prefix, _, operation = target.partition(".")
        service = _TARGET_SERVICES.get(prefix) or _scope(environ) or prefix.lower()
        if service not in _READ_BODY:
            return service, operation, "", 1
        body = _take_body(environ)
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return service, operation, "", 1
        if not isinstance(request, dict):
            return service, operation, "", 1
        return service, operation, _resource(service, request), _items(operation, request)
    service = _scope(environ)
    if service is None:
        return None
    if service == "s3":
        bucket, operation = _s3(environ)
        return service, operation, bucket, 1
    return service, environ.get("REQUEST_METHOD", ""), "", 1


def _scope(environ: dict[str, Any]) -> str | None:
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        match = _QUERY_SCOPE.search(environ.get("QUERY_STRING", ""))
    return match.group(1) if match else None


def _take_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _resource(service: str, request: dict[str, Any]) -> str:
    if service == "dynamodb":
        if isinstance(request.get("TableName"), str):
            return str(request["TableName"])
        items = request.get("RequestItems")
        return "+".join(sorted(items)) if isinstance(items, dict) else ""
    if service == "sqs":
        return str(request.get("QueueUrl", "")).rstrip("/").rsplit("/", 1)[-1]
    if service == "events":
        buses = {e.get("EventBusName") or "default" for e in request.get("Entries", [])}
        return "+".join(sorted(b.rsplit("/", 1)[-1] for b in buses))
    return ""


def _items(operation: str, request: dict[str, Any]) -> int:
    if operation in _BATCH_ENTRIES:
        return len(request.get("Entries") or [])
    if operation == "BatchWriteItem":
        return sum(len(v) for v in (request.get("RequestItems") or {}).values())
    if operation == "BatchGetItem":
        return sum(len(v.get("Keys", [])) for v in (request.get("RequestItems") or {}).values())
    return 1


def _s3(environ: dict[str, Any]) -> tuple[str, str]:
    """The bucket and operation of a path-style S3 request."""
    path = unquote(environ.get("PATH_INFO", "/")).lstrip("/")
    bucket, _, key = path.partition("/")
    method = environ.get("REQUEST_METHOD", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if not key:
        if method == "GET" and not query.keys() & _BUCKET_SUBRESOURCES:
            return bucket, "ListObjects"
        if method == "POST" and "delete" in query:
            return bucket, "DeleteObjects"
        return bucket, f"{method.title()}Bucket"
    if method == "PUT":
        if "partNumber" in query:
            return bucket, "UploadPart"
        if environ.get("HTTP_X_AMZ_COPY_SOURCE"):
            return bucket, "CopyObject"
        return bucket, "PutObject"
    if method == "POST":
        return bucket, "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
    return bucket, {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(
        method, method
    )


class RequestCounter:
    """Thread-safe totals since the gateway started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[Key] = Counter()
        self._items: Counter[Key] = Counter()

    def count(self, environ: dict[str, Any]) -> None:
        found = classify(environ)
        if found is None:
            return
        service, operation, resource, items = found
        key = (service, operation, resource)
        with self._lock:
            self._requests[key] += 1
            self._items[key] += items

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "service": service,
                    "operation": operation,
                    "resource": resource,
                    "requests": n,
                    "items": self._items[service, operation, resource],
                }
                for (service, operation, resource), n in sorted(self._requests.items())
            ]
