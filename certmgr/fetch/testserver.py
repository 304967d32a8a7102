"""A loopback HTTP server for tests: routes in, recorded requests out.

Test tooling shipped in the package so that test suites in any folder (and
downstream ones) can use it; nothing here runs at import time.

    from certmgr.fetch.testserver import LoopbackServer, Reply

    with LoopbackServer() as server:
        server.route("/ca.crl", Reply(body=crl_der))
        server.route("/old.crl", Reply(status=301, headers={"Location": "/ca.crl"}))
        server.route("/dyn", lambda request: Reply(body=request.path.encode()))
        fetcher.fetch(server.url("/ca.crl"), policy=server.policy())
        assert [r.path for r in server.requests] == ["/ca.crl"]

A `Reply` body may be bytes (sent with Content-Length) or an iterable of chunks
(sent chunked unless the route sets Content-Length). When the client goes away
before the whole reply is written, the request is listed in `aborted`. Unknown
paths answer 404. The server binds 127.0.0.1 on a free port and serves each
request in its own thread. With `tls=` it serves HTTPS and records SNI names.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, TracebackType
from typing import Any, Self

from certmgr.fetch.policy import UrlPolicy

__all__ = ["Handler", "LoopbackServer", "RecordedRequest", "Reply"]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server received, in arrival order (`index` from 0)."""

    index: int
    method: str
    path: str  # the request target as sent: path and query
    headers: Mapping[str, str]  # lower-case names

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer. `delay` seconds pass before the status line is sent."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    delay: float = 0.0


Handler = Callable[[RecordedRequest], Reply]


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1; use it as a context manager."""

    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        """`tls`, a server-side context, makes it an HTTPS server; SNI names are recorded."""
        self._lock = threading.Condition()
        self._scheme = "http" if tls is None else "https"
        self._server_names: list[str | None] = []
        self._routes: dict[str, Handler] = {}
        self._requests: list[RecordedRequest] = []
        self._aborted: list[RecordedRequest] = []
        self._active = 0
        self.stopping = threading.Event()
        """Set when the server shuts down: slow body generators should stop on it."""
        self._httpd = _QuietServer((host, 0), _make_handler(self))
        self._httpd.daemon_threads = True
        if tls is not None:
            tls.sni_callback = self._record_sni
            # The handshake runs in the handler thread, on first read, not in accept().
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{self._scheme}://{self.host}:{self.port}"

    def url(self, path: str, *, host: str | None = None) -> str:
        """The absolute URL of `path` on this server, optionally under another host name."""
        return f"{self._scheme}://{host or self.host}:{self.port}{path}"

    @property
    def server_names(self) -> list[str | None]:
        """The TLS SNI names clients sent, one per handshake (None: no SNI)."""
        with self._lock:
            return list(self._server_names)

    def policy(self, *, hosts: Iterable[str] | None = None, **changes: Any) -> UrlPolicy:
        """A UrlPolicy that admits this server (loopback allowed, its port only)."""
        base = UrlPolicy(hosts=tuple(hosts or (self.host,)), ports=(self.port,),
                         allow_loopback=True, timeout=2.0, total_timeout=5.0)
        return replace(base, **changes)

    def route(self, path: str, reply: Reply | Handler) -> None:
        """Answer requests whose target is exactly `path` (query included) with `reply`."""
        handler: Handler = reply if callable(reply) else (lambda _request: reply)
        with self._lock:
            self._routes[path] = handler

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def aborted(self) -> list[RecordedRequest]:
        """Requests whose reply could not be written to the end (the client left)."""
        with self._lock:
            return list(self._aborted)

    def wait_idle(self, timeout: float = 2.0) -> bool:
        """Wait until no request is being served; False when `timeout` ran out."""
        with self._lock:
            return self._lock.wait_for(lambda: self._active == 0, timeout=timeout)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- called from the handler threads
    def _record_sni(self, _sock: ssl.SSLObject | ssl.SSLSocket, name: str | None,
                    _ctx: ssl.SSLContext) -> None:
        with self._lock:
            self._server_names.append(name)

    def _receive(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[
            RecordedRequest, Handler | None]:
        with self._lock:
            request = RecordedRequest(index=len(self._requests), method=method, path=path,
                                      headers=MappingProxyType(dict(headers)))
            self._requests.append(request)
            self._active += 1
            return request, self._routes.get(path)

    def _done(self, request: RecordedRequest, *, complete: bool) -> None:
        with self._lock:
            if not complete:
                self._aborted.append(request)
            self._active -= 1
            self._lock.notify_all()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """Silent: a client that hangs up or fails the TLS handshake is a normal test case."""


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve()

        def do_HEAD(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Silent: tests read `server.requests` instead."""

        def _serve(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            request, handler = server._receive(self.command, self.path, headers)  # noqa: SLF001
            complete = False
            try:
                reply = Reply(status=404) if handler is None else handler(request)
                if reply.delay and server.stopping.wait(reply.delay):
                    return
                self._write(reply)
                complete = True
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.close_connection = True
            finally:
                server._done(request, complete=complete)  # noqa: SLF001

        def _write(self, reply: Reply) -> None:
            self.send_response(reply.status)
            names = {k.lower() for k in reply.headers}
            for name, value in reply.headers.items():
                self.send_header(name, value)
            body = reply.body
            if isinstance(body, bytes):
                if "content-length" not in names:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                return
            chunked = "content-length" not in names
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in _chunks(body):
                if server.stopping.is_set():
                    return
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")

    return _Handler


def _chunks(body: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in body:
        if chunk:
            yield chunk
