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

from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError
from flask import Response
from moto.core.request import Request
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, convert_to_flask_response
from werkzeug.exceptions import HTTPException

# What flask_cors, as moto configures it, adds to the answer to a request without Origin.
_CORS_HEADER = ("Access-Control-Allow-Origin", "*")

StartResponse = Callable[..., Any]


class ServerRequest(Request):
    """The request moto's server hands its handlers (its `BackendRequest`) without Flask's
    request type, whose size limits are read from the running app's config, of which there
    is none here: each read raised and caught an error (Flask's defaults are no limits)."""

    from_wsgi_server = True


class DirectDispatch:
    """A WSGI application answering as moto's DISPATCHER does, without Flask's framing for
    requests its URL maps route to a service's handler."""

    def __init__(self, dispatcher: DomainDispatcherApplication) -> None:
        self._dispatcher = dispatcher

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        handler = None if "HTTP_ORIGIN" in environ else self._handler(environ)
        if handler is None:
            return self._dispatcher(environ, start_response)
        request = ServerRequest(environ)
        try:
            result = handler(request, request.raw_url, dict(request.headers))
        except ClientError as exc:  # as moto's view answers it
            result = 400, {}, exc.response["Error"]["Message"]
        except HTTPException as exc:  # as Flask answers it
            return exc(environ, start_response)
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        response = Response(response=content, status=status, headers=headers)
        if request.method == "HEAD" and "content-length" in headers:
            response.headers["Content-Length"] = headers["content-length"]
        response.headers.setdefault(*_CORS_HEADER)
        return response(environ, start_response)

    def _handler(self, environ: dict[str, Any]) -> Callable[..., Any] | None:
        app = self._dispatcher.get_application(environ)
        try:
            endpoint, _ = app.url_map.bind_to_environ(environ).match()
        except HTTPException:  # not routed (404, 405, a redirect): Flask answers
            return None
        view = app.view_functions.get(endpoint)
        if not isinstance(view, convert_to_flask_response):
            return None
        return view.callback
