"""The loopback server other test folders reuse: routes, records, aborts, shutdown."""

from __future__ import annotations

import socket
import time

import httpx

from certmgr.fetch.testserver import LoopbackServer, Reply


def test_routes_records_and_404() -> None:
    with LoopbackServer() as server:
        server.route("/a?x=1", Reply(status=201, headers={"X-T": "1"}, body=b"A"))
        server.route("/echo", lambda request: Reply(body=request.method.encode()))
        with httpx.Client(trust_env=False) as client:
            a = client.get(server.url("/a?x=1"), headers={"X-Probe": "p"})
            echo = client.head(server.url("/echo"))
            missing = client.get(server.url("/nope"))
    assert (a.status_code, a.headers["x-t"], a.content) == (201, "1", b"A")
    assert (echo.status_code, echo.content) == (200, b"")
    assert missing.status_code == 404
    assert [(r.index, r.method, r.path) for r in server.requests] == [
        (0, "GET", "/a?x=1"), (1, "HEAD", "/echo"), (2, "GET", "/nope")]
    assert server.requests[0].header("X-Probe") == "p"
    assert server.aborted == []


def test_shutdown_is_prompt_with_a_sleeping_route() -> None:
    server = LoopbackServer()
    with server:
        server.route("/slow", Reply(body=b"x", delay=30))
        sock = socket.create_connection((server.host, server.port))
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 2
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 1.0
    assert server.wait_idle(1.0)
    sock.close()
    assert [r.path for r in server.requests] == ["/slow"]
