"""API Gateway HTTP API GET requests (payload format 2.0) as a deployed API hands them to
its Lambda handler, for the API handlers' unit tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl


def get_event(
    route_key: str,
    raw_path: str,
    raw_query: str = "",
    *,
    stage: str = "$default",
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        # API Gateway joins repeated parameters with commas.
        query[key] = f"{query[key]},{value}" if key in query else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": {"accept": "application/json", "host": "127.0.0.1:4566"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "localapi",
            "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {
                "method": "GET",
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "req-1",
            "routeKey": route_key,
            "stage": stage,
            "time": "10/Jan/2026:00:20:00 +0000",
            "timeEpoch": 1768004400000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event
