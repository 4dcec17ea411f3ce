"""moto's services answered without Flask's framing.

moto's server is one Flask app per service. A request goes through Flask's request
context, URL adapter, response finalisation and CORS extension before it reaches the
service's handler (a response class's `dispatch`), which does the actual work; under a
burst that framing was about a tenth of the gateway's CPU. Here a request that the app's
URL map routes to such a handler is handed to it directly, as moto's view
(`convert_to_flask_response`) does, and answered with the same status, headers and body,
including the header moto's CORS extension adds to every answer. Requests from a browser
(an Origin header: preflights and per-origin CORS answers) and anything the map does not
route go through the Flask app as before.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError
from flask import Response
from moto.core.request import Request
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, convert_to_flask_response
from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.sansio.utils import get_host
from werkzeug.wrappers import Response as WerkzeugResponse

# What flask_cors, as moto configures it, adds to the answer to a request without Origin.
_CORS_HEADER = ("Access-Control-Allow-Origin", "*")

StartResponse = Callable[..., Any]
# An answer as (status, headers, body).
Answer = tuple[int, Headers, bytes]


class ServerRequest(Request):
    """The request moto's server hands its handlers (its `BackendRequest`) without Flask's
    request type, whose size limits are read from the running app's config, of which there
    is none here: each read raised and caught an error (Flask's defaults are no limits)."""

    from_wsgi_server = True


class JsonRequest(ServerRequest):
    """A JSON API call (an X-Amz-Target POST with a plain body of known length), read as
    moto reads a ServerRequest of the same environ, from its BODY, already read: werkzeug's
    stream, form parsing and URL rebuilding were a third of moto's handling of a DynamoDB
    PutItem, and such a body is never a form."""

    def __init__(self, environ: dict[str, Any], body: bytes) -> None:
        super().__init__(environ)
        self._cached_data = body  # what werkzeug's get_data() reads and returns
        self.__dict__["form"] = self.__dict__["files"] = ImmutableMultiDict()
        # As werkzeug's url_root makes it (the host without a default port), and moto's raw_url.
        url = f"{self.scheme}://{get_host(self.scheme, environ['HTTP_HOST'])}{self.raw_path}"
        query = environ.get("QUERY_STRING")
        self._url = f"{url}?{query}" if query else url

    @property
    def raw_url(self) -> str:
        return self._url

    @staticmethod
    def of(environ: dict[str, Any]) -> ServerRequest:
        """ENVIRON's request: a JsonRequest if it is a JSON API call (its body read and put
        back), else a ServerRequest."""
        length = environ.get("CONTENT_LENGTH")
        if (
            "HTTP_X_AMZ_TARGET" not in environ
            or not length
            or "HTTP_HOST" not in environ
            or environ.get("SCRIPT_NAME")
            or "HTTP_CONTENT_ENCODING" in environ  # gzip: moto decompresses the stream
            or environ.get("wsgi.input_terminated")
        ):
            return ServerRequest(environ)
        body = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(body)
        return JsonRequest(environ, body)


class DirectDispatch:
    """A WSGI application answering as moto's DISPATCHER does, without Flask's framing for
    requests its URL maps route to a service's handler."""

    def __init__(self, dispatcher: DomainDispatcherApplication) -> None:
        self._dispatcher = dispatcher
        # The handler of each kind of JSON request (endpoint, credential scope, target's
        # service), which only those choose: found once, not by the URL maps each time.
        self._json_handlers: dict[tuple[str, ...], Callable[..., Any] | None] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        answer = self._response(environ, self._routed)
        if answer is None:
            return self._dispatcher(environ, start_response)
        return answer(environ, start_response)

    def answer(self, environ: dict[str, Any]) -> Answer | None:
        """What __call__ would answer, for a caller in this process; None: not routed to a
        service's handler (the Flask app answers it)."""
        response = self._response(environ, self._handler)
        if response is None:
            return None
        chunks, status, headers = response.get_wsgi_response(environ)
        return int(status.split(" ", 1)[0]), Headers(headers), b"".join(chunks)

    def _response(
        self, environ: dict[str, Any], find: Callable[[dict[str, Any]], Callable[..., Any] | None]
    ) -> WerkzeugResponse | None:
        handler = None if "HTTP_ORIGIN" in environ else find(environ)
        if handler is None:
            return None
        request = JsonRequest.of(environ)
        try:
            result = handler(request, request.raw_url, dict(request.headers))
        except ClientError as exc:  # as moto's view answers it
            result = 400, {}, exc.response["Error"]["Message"]
        except HTTPException as exc:  # as Flask answers it
            return exc.get_response(environ)
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        response = Response(response=content, status=status, headers=headers)
        if request.method == "HEAD" and "content-length" in headers:
            response.headers["Content-Length"] = headers["content-length"]
        response.headers.setdefault(*_CORS_HEADER)
        return response

    def _handler(self, environ: dict[str, Any]) -> Callable[..., Any] | None:
        """The handler of a request made in this process, a JSON one's found once per kind.
        Requests from the socket are routed each time (_routed), under moto's dispatcher
        lock as before: that lock also paces them, and without it moto's engine as shipped
        (`make bench`'s reference, an HTTP client per task) had thousands of executions in
        flight at once and failed some with closed connections."""
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target is None or environ["REQUEST_METHOD"] != "POST":
            return self._routed(environ)
        key = (
            environ.get("HTTP_HOST", ""),
            environ.get("HTTP_AUTHORIZATION", "").split(",", 1)[0],
            environ.get("PATH_INFO", ""),
            target.split(".", 1)[0],
        )
        if key not in self._json_handlers:
            self._json_handlers[key] = self._routed(environ)
        return self._json_handlers[key]

    def _routed(self, environ: dict[str, Any]) -> Callable[..., Any] | None:
        app = self._dispatcher.get_application(environ)
        try:
            endpoint, _ = app.url_map.bind_to_environ(environ).match()
        except HTTPException:  # not routed (404, 405, a redirect): Flask answers
            return None
        view = app.view_functions.get(endpoint)
        if not isinstance(view, convert_to_flask_response):
            return None
        return view.callback
