"""The template's HttpApi routes, answered with API Gateway v2 (payload format 2.0) events."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sluice.template import ACCOUNT_ID


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ... or ANY
    path: str  # /analytics/{callId}, /files/{proxy+}
    function: str
    api_id: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        pattern = ""
        for part in re.split(r"(\{[^}]+\})", self.path):
            if part.startswith("{") and part.endswith("+}"):
                pattern += f"(?P<{part[1:-2]}>.+)"
            elif part.startswith("{"):
                pattern += f"(?P<{part[1:-1]}>[^/]+)"
            else:
                pattern += re.escape(part)
        m = re.fullmatch(pattern, path)
        return m.groupdict() if m else None


def find_route(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    # Literal segments win over parameters, as in API Gateway: try the most specific first.
    for route in sorted(routes, key=lambda r: (r.path.count("{"), -len(r.path))):
        params = route.match(method, path)
        if params is not None:
            return route, params
    return None


def build_event(
    route: Route, params: dict[str, str], environ: dict[str, Any], body: bytes
) -> dict[str, Any]:
    headers = {
        k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    query = environ.get("QUERY_STRING", "")
    qs: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        qs[key] = f"{qs[key]},{value}" if key in qs else value
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": environ.get("sluice.raw_path", environ.get("PATH_INFO", "/")),
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": route.api_id,
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": route.api_id,
            "http": {
                "method": environ["REQUEST_METHOD"],
                "path": environ.get("sluice.raw_path", environ.get("PATH_INFO", "/")),
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_b64,
    }
    if qs:
        event["queryStringParameters"] = qs
    if params:
        event["pathParameters"] = params
    if body:
        event["body"] = text
    return event


def to_http_response(payload: bytes) -> tuple[int, dict[str, str], bytes]:
    """Interpret a handler's result the way API Gateway's payload format 2.0 does."""
    try:
        result = json.loads(payload or b"null")
    except json.JSONDecodeError:
        return 200, {"content-type": "application/json"}, payload
    if isinstance(result, dict) and "statusCode" in result:
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers.setdefault("content-type", "application/json")
        return int(result["statusCode"]), headers, raw
    return 200, {"content-type": "application/json"}, json.dumps(result).encode()
