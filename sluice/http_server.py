"""The gateway's HTTP server: werkzeug's threaded WSGI server, with HTTP/1.1 keep-alive.

werkzeug 3 answers every request with ``Connection: close`` and then drains the socket for
10 ms, so every call a client made (a poller's receive, the engine's and the tasks' calls)
paid a new TCP connection and a new server thread: in an idle stack a third of a poll's
client-side CPU went to connecting. Here a connection serves requests until the client
closes it, asks to, or is idle for ``IDLE_S``; a request body the application left unread
is read to its Content-Length so the next request starts where it should (a chunked one
ends its connection).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import IO, Any, cast

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

# An idle kept-alive connection is closed after this (clients reconnect transparently).
IDLE_S = 120.0
_werkzeug_log = logging.getLogger("werkzeug")


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_S
    # An answer's head and body are separate writes: with Nagle's algorithm the body
    # waits for the client's delayed ACK of the head (~40 ms) on a kept connection.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        cast(Server, self.server).connections.add(self.connection)

    def finish(self) -> None:
        cast(Server, self.server).connections.discard(self.connection)
        super().finish()

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out"):  # an idle kept connection closing: normal
            return
        super().log_error(format, *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # werkzeug formats each request's line before its logger drops it (a stack logs
        # warnings only); left unset, werkzeug logs requests at INFO itself.
        if _werkzeug_log.level == logging.NOTSET or _werkzeug_log.isEnabledFor(logging.INFO):
            super().log_request(code, size)

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        body: LimitedStream | None = None
        if environ.get("wsgi.input_terminated"):  # a chunked body: the connection ends with it
            self.close_connection = True
        else:
            body = LimitedStream(
                cast(IO[bytes], self.rfile), int(environ.get("CONTENT_LENGTH") or 0)
            )
            environ["wsgi.input"] = body
        response = _Response(self)
        try:
            result = self.server.app(environ, response.start)
            try:
                for data in result:
                    response.write(data)
                response.write(b"")
                response.end()
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return
        except Exception:
            self.close_connection = True
            if response.sent:  # too late for a 500: the client sees a cut response
                raise
            response.fail()
            raise
        if body is not None and not body.is_exhausted:
            body.exhaust()


class _Response:
    """One response: headers on the first write; chunked when the application gives no
    Content-Length (and the status allows a body)."""

    def __init__(self, handler: KeepAliveHandler) -> None:
        self._handler = handler
        self._status: str | None = None
        self._headers: list[tuple[str, str]] = []
        self.sent = False
        self._chunked = False

    def start(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info and self.sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self._status, self._headers = status, headers
        return self.write

    def write(self, data: bytes) -> None:
        h = self._handler
        if not self.sent:
            assert self._status is not None, "write() before start_response"
            code, _, reason = self._status.partition(" ")
            h.send_response(int(code), reason)
            keys = set()
            for key, value in self._headers:
                h.send_header(key, value)
                keys.add(key.lower())
            bodiless = h.command == "HEAD" or int(code) < 200 or int(code) in (204, 304)
            if "content-length" not in keys and not bodiless:
                if h.request_version >= "HTTP/1.1":
                    self._chunked = True
                    h.send_header("Transfer-Encoding", "chunked")
                else:  # the end of the body is the end of the connection
                    h.send_header("Connection", "close")
            h.end_headers()
            self.sent = True
        if data:
            if self._chunked:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                h.wfile.write(data)

    def end(self) -> None:
        if self._chunked:
            self._handler.wfile.write(b"0\r\n\r\n")
        self._handler.wfile.flush()

    def fail(self) -> None:
        h = self._handler
        h.send_response(500, "Internal Server Error")
        h.send_header("Content-Length", "0")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.flush()


class Server(ThreadedWSGIServer):
    """A thread per connection; the open connections kept, to be closed on ``close``."""

    daemon_threads = True

    def __init__(self, host: str, port: int, app: Any) -> None:
        super().__init__(host, port, app, handler=KeepAliveHandler)
        self.connections: set[socket.socket] = set()


def serve(host: str, port: int, app: Any) -> Server:
    """A server on HOST:PORT, serving APP in the background until ``close``."""
    server = Server(host, port, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def close(server: Server) -> None:
    """Stop accepting, close the listening socket and every kept-alive connection (a
    handler waiting for its connection's next request then ends)."""
    server.shutdown()
    server.server_close()
    for conn in list(server.connections):
        with contextlib.suppress(OSError):  # already closed by its client
            conn.shutdown(socket.SHUT_RDWR)
