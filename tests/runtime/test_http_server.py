"""The gateway's HTTP server keeps connections alive, and stays correct doing so."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from sluice import http_server
from sluice.waiting import wait_for


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """/echo answers its body; /ignore does not read it; /stream gives no Content-Length."""
    path = environ["PATH_INFO"]
    if path == "/echo":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"one,", b"two"])
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


@pytest.fixture
def server() -> Iterator[http_server.Server]:
    s = http_server.serve("127.0.0.1", 0, app)
    yield s
    http_server.close(s)


def connect(server: http_server.Server) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)


def call(conn: http.client.HTTPConnection, path: str, body: bytes = b"") -> tuple[int, bytes]:
    conn.request("POST", path, body=body)
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_consecutive_requests_share_one_connection(server: http_server.Server) -> None:
    conn = connect(server)
    assert call(conn, "/echo", b"first") == (200, b"first")
    sock = conn.sock
    assert call(conn, "/echo", b"second") == (200, b"second")
    assert conn.sock is sock  # not closed and reopened between the two
    assert len(server.connections) == 1


def test_a_body_the_application_did_not_read_does_not_become_the_next_request(
    server: http_server.Server,
) -> None:
    conn = connect(server)
    assert call(conn, "/ignore", b"GET /echo HTTP/1.1\r\n\r\n" * 100) == (200, b"ok")
    assert call(conn, "/echo", b"next") == (200, b"next")


def test_a_response_without_content_length_is_chunked_and_the_connection_kept(
    server: http_server.Server,
) -> None:
    conn = connect(server)
    conn.request("GET", "/stream")
    resp = conn.getresponse()
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert resp.read() == b"one,two"
    assert call(conn, "/echo", b"after") == (200, b"after")


def test_a_client_asking_to_close_is_answered_then_closed(server: http_server.Server) -> None:
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as sock:
        sock.sendall(b"GET /ignore HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(4096):  # ends when the server closes
            received += chunk
    assert received.startswith(b"HTTP/1.1 200") and received.endswith(b"ok")


def test_close_ends_idle_kept_alive_connections_and_releases_the_port(
    server: http_server.Server,
) -> None:
    conn = connect(server)
    assert call(conn, "/echo", b"x") == (200, b"x")
    http_server.close(server)
    assert conn.sock is not None
    assert conn.sock.recv(1) == b""  # the server's side is shut: end of stream

    # The port is released: a stack restarted in the same process can listen on it again
    # (the kernel may take a moment to let the old listening socket go).
    def serve_again() -> http_server.Server | None:
        try:
            return http_server.serve("127.0.0.1", server.server_port, app)
        except SystemExit:  # werkzeug's answer to a port in use
            return None

    again = wait_for(serve_again, timeout=5, what="the port to be free again")
    try:
        assert call(connect(again), "/echo", b"again") == (200, b"again")
    finally:
        http_server.close(again)


def test_a_chunked_request_is_answered_and_its_connection_then_closed(
    server: http_server.Server,
) -> None:
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as sock:
        sock.sendall(
            b"POST /ignore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n"
        )
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200") and received.endswith(b"ok")


def test_an_idle_connection_timing_out_is_not_logged_as_an_error(
    server: http_server.Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(http_server.KeepAliveHandler, "timeout", 0.2)
    conn = connect(server)
    assert call(conn, "/echo", b"x") == (200, b"x")
    assert conn.sock is not None
    assert conn.sock.recv(1) == b""  # closed by the server once idle
    assert not [r for r in caplog.records if "timed out" in r.getMessage()]
