"""boto3 clients whose requests a WSGI application of this process answers, not a socket.

botocore still serializes, signs and parses as it would over HTTP (same parameters, same
errors, same retries); only the transport is a call of the application on the caller's
own thread. The runtime's own clients (the engine's service integrations, the triggers'
pollers) reach the gateway this way: they run in the gateway's process, so a socket, a
server thread and HTTP framing per request only cost CPU.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HTTPHeaders
from werkzeug.test import EnvironBuilder, run_wsgi_app

App = Callable[..., Any]
# On the environ of a request whose caller waits for no commit of the durable state
# (sluice/durable/): what it does next is journalled after what the request changed, so
# the order on disk is kept without a commit per call.
UNFLUSHED = "sluice.unflushed"


def answered_by(client: Any, app: Callable[[], App | None], *, unflushed: bool = False) -> Any:
    """CLIENT, its requests answered by the application APP returns (None: over HTTP as
    usual); UNFLUSHED: they wait for no commit."""
    extra = {UNFLUSHED: True} if unflushed else {}

    def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        target = app()
        return None if target is None else send_to(target, request, extra)

    client.meta.events.register("before-send", send)
    return client


def send_to(
    app: App, request: AWSPreparedRequest, extra: dict[str, Any] | None = None
) -> AWSResponse:
    """botocore's REQUEST answered by the WSGI APP (EXTRA: added to its environ)."""
    url = urlsplit(request.url)
    body: Any = request.body
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, bytearray):
        body = bytes(body)
    headers = [
        (k, v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()
    ]
    environ = EnvironBuilder(
        method=request.method,
        base_url=f"{url.scheme}://{url.netloc}",
        path=url.path or "/",
        query_string=url.query,
        headers=headers,
        data=body or b"",
    ).get_environ()
    if extra:
        environ.update(extra)
    code, response_headers, content = run(app, environ)
    headers_out = HTTPHeaders.from_pairs(list(response_headers.items()))
    return AWSResponse(request.url, code, headers_out, _Body(content))


def run(app: App, environ: dict[str, Any]) -> tuple[int, Any, bytes]:
    """Status, headers and body of one request answered by the WSGI APP, through the
    app's own `answer(environ)` when it has one (the gateway: the same answer without
    WSGI's framing where it can)."""
    answer = getattr(app, "answer", None)
    if answer is not None:
        answered: tuple[int, Any, bytes] = answer(environ)
        return answered
    return run_wsgi(app, environ)


def run_wsgi(app: App, environ: dict[str, Any]) -> tuple[int, Any, bytes]:
    """Status, headers and body of one request answered by the WSGI APP as a server would."""
    chunks, status, headers = run_wsgi_app(app, environ, buffered=True)
    try:
        content = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return int(status.split(" ", 1)[0]), headers, content


class _Body(io.BytesIO):
    """The raw response botocore reads: a body it can also stream."""

    def stream(self, amt: int = 64 * 1024, **_: Any) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk
