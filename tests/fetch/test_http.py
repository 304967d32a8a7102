"""HttpFetcher against a real loopback server: caps, redirects, retries, refusals."""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from certmgr.errors import FetchError, NotAllowedError
from certmgr.fetch import USER_AGENT, HttpFetcher, UrlPolicy
from certmgr.fetch.testserver import LoopbackServer, RecordedRequest, Reply
from tests.fetch.conftest import T0

CRL_BYTES = b"0\x82\x01\x00" + b"\x01" * 256  # the content does not matter here
MiB = 1024 * 1024


def _one_line_naming(exc: FetchError, url: str) -> None:
    message = str(exc)
    assert url in message
    assert "\n" not in message
    assert not isinstance(exc.__cause__, httpx.HTTPError)
    assert not isinstance(exc.__context__, httpx.HTTPError)


class _Counted:
    """A body generator that counts the chunks the server pulled from it."""

    def __init__(self, *, chunks: int, size: int = 64 * 1024) -> None:
        self.total, self.size, self.pulled = chunks, size, 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.total):
            self.pulled += 1
            yield b"\0" * self.size


class TestFetch:
    """Plain downloads."""

    def test_good_fetch(self, server: LoopbackServer, fetcher: HttpFetcher) -> None:
        server.route("/CRL/ACI-EL-ORG.crl", Reply(body=CRL_BYTES, headers={"ETag": '"v1"'}))
        url = server.url("/CRL/ACI-EL-ORG.crl")
        result = fetcher.fetch(url, policy=server.policy())
        assert (result.status, result.body, result.url, result.final_url) == (
            200, CRL_BYTES, url, url)
        assert result.fetched_at == T0
        assert result.attempts == 1
        assert result.etag == '"v1"'
        assert dt.timedelta(0) < result.elapsed < dt.timedelta(seconds=2)
        (request,) = server.requests
        assert request.header("user-agent") == USER_AGENT
        assert request.header("accept-encoding") == "identity"
        assert request.header("host") == f"127.0.0.1:{server.port}"

    def test_chunked_body_is_assembled(self, server: LoopbackServer,
                                       fetcher: HttpFetcher) -> None:
        server.route("/c", Reply(body=[b"ab", b"cd", b"ef"]))
        assert fetcher.fetch(server.url("/c"), policy=server.policy()).body == b"abcdef"

    def test_conditional_fetch_returns_not_modified(self, server: LoopbackServer,
                                                    fetcher: HttpFetcher) -> None:
        def handler(request: RecordedRequest) -> Reply:
            if request.header("if-none-match") == '"v1"':
                return Reply(status=304)
            return Reply(body=CRL_BYTES)
        server.route("/c", handler)
        since = dt.datetime(2026, 2, 1, 8, 30, tzinfo=dt.UTC)
        result = fetcher.fetch(server.url("/c"), policy=server.policy(), etag='"v1"',
                               modified_since=since)
        assert result.not_modified
        assert result.body == b""
        assert server.requests[0].header("if-modified-since") == "Sun, 01 Feb 2026 08:30:00 GMT"

    def test_last_modified_parsed(self, server: LoopbackServer, fetcher: HttpFetcher) -> None:
        server.route("/c", Reply(body=b"x",
                                 headers={"Last-Modified": "Sun, 01 Feb 2026 08:30:00 GMT"}))
        result = fetcher.fetch(server.url("/c"), policy=server.policy())
        assert result.last_modified == dt.datetime(2026, 2, 1, 8, 30, tzinfo=dt.UTC)

    def test_compressed_response_refused(self, server: LoopbackServer,
                                         fetcher: HttpFetcher) -> None:
        server.route("/c", Reply(body=b"\x1f\x8b", headers={"Content-Encoding": "gzip"}))
        with pytest.raises(FetchError, match="compressed response"):
            fetcher.fetch(server.url("/c"), policy=server.policy())


class TestStatusAndRetries:
    """4xx fails at once; 5xx, 429 and connection failures are retried with backoff."""

    def test_404_not_retried(self, server: LoopbackServer, fetcher: HttpFetcher,
                             sleeps: list[float]) -> None:
        url = server.url("/missing.crl")
        with pytest.raises(FetchError, match="HTTP 404") as info:
            fetcher.fetch(url, policy=server.policy())
        _one_line_naming(info.value, url)
        assert len(server.requests) == 1
        assert sleeps == []

    def test_500_then_200_is_retried(self, server: LoopbackServer, fetcher: HttpFetcher,
                                     sleeps: list[float]) -> None:
        server.route("/c", lambda r: Reply(status=500) if r.index == 0 else Reply(body=b"ok"))
        result = fetcher.fetch(server.url("/c"), policy=server.policy())
        assert (result.body, result.attempts) == (b"ok", 2)
        assert len(server.requests) == 2
        assert len(sleeps) == 1
        assert 0 <= sleeps[0] <= 0.5  # full jitter under base_delay for the first retry

    def test_persistent_503_gives_up_after_bounded_attempts(
            self, server: LoopbackServer, fetcher: HttpFetcher, sleeps: list[float]) -> None:
        server.route("/c", Reply(status=503))
        url = server.url("/c")
        with pytest.raises(FetchError, match=r"HTTP 503 .* \(after 3 attempts\)") as info:
            fetcher.fetch(url, policy=server.policy())
        _one_line_naming(info.value, url)
        assert len(server.requests) == 3
        assert len(sleeps) == 2
        assert 0 <= sleeps[1] <= 1.0

    def test_429_honours_retry_after(self, server: LoopbackServer, fetcher: HttpFetcher,
                                     sleeps: list[float]) -> None:
        server.route("/c", lambda r: Reply(status=429, headers={"Retry-After": "3"})
                     if r.index == 0 else Reply(body=b"ok"))
        assert fetcher.fetch(server.url("/c"), policy=server.policy()).body == b"ok"
        assert sleeps == [3.0]

    def test_connection_refused_retried_then_fails(self, sleeps: list[float]) -> None:
        with socket.socket() as sock:  # a port with nobody listening
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}/c"
        policy = UrlPolicy(hosts=("127.0.0.1",), ports=(port,), allow_loopback=True, timeout=1)
        with HttpFetcher(now=lambda: T0, sleep=sleeps.append) as f, \
                pytest.raises(FetchError, match="cannot connect") as info:
            f.fetch(url, policy=policy)
        _one_line_naming(info.value, url)
        assert len(sleeps) == 2

    def test_next_address_tried_when_first_refuses(self, server: LoopbackServer,
                                                   sleeps: list[float]) -> None:
        server.route("/c", Reply(body=b"ok"))
        resolver_calls: list[str] = []

        def resolver(host: str, port: int) -> list[str]:
            resolver_calls.append(host)
            return ["127.0.0.2", "127.0.0.1"]  # nothing listens on 127.0.0.2
        with HttpFetcher(now=lambda: T0, sleep=sleeps.append, resolver=resolver) as f:
            result = f.fetch(server.url("/c", host="crl.test"),
                             policy=server.policy(hosts=["crl.test"]))
        assert (result.body, result.attempts, sleeps) == (b"ok", 1, [])
        assert resolver_calls == ["crl.test"]


class TestSizeCap:
    """A CRL bomb is never read to the end."""

    def test_content_length_over_cap_refused_before_reading(
            self, server: LoopbackServer, fetcher: HttpFetcher, sleeps: list[float]) -> None:
        body = _Counted(chunks=1600)  # 100 MiB announced
        server.route("/bomb", Reply(body=body, headers={"Content-Length": str(100 * MiB)}))
        url = server.url("/bomb")
        with pytest.raises(FetchError, match="Content-Length 104857600 exceeds") as info:
            fetcher.fetch(url, policy=server.policy(max_bytes=MiB))
        _one_line_naming(info.value, url)
        assert server.wait_idle()
        assert [r.path for r in server.aborted] == ["/bomb"]
        assert body.pulled < body.total
        assert (len(server.requests), sleeps) == (1, [])

    def test_streamed_body_over_cap_aborted(self, server: LoopbackServer,
                                            fetcher: HttpFetcher) -> None:
        body = _Counted(chunks=1600)  # 100 MiB, chunked, no Content-Length
        server.route("/bomb", Reply(body=body))
        with pytest.raises(FetchError, match="body exceeds the 1048576-byte cap"):
            fetcher.fetch(server.url("/bomb"), policy=server.policy(max_bytes=MiB))
        assert server.wait_idle()
        assert [r.path for r in server.aborted] == ["/bomb"]
        assert body.pulled < body.total
        assert len(server.requests) == 1

    def test_body_exactly_at_cap_is_accepted(self, server: LoopbackServer,
                                             fetcher: HttpFetcher) -> None:
        server.route("/c", Reply(body=[b"a" * 600, b"b" * 424]))
        assert len(fetcher.fetch(server.url("/c"), policy=server.policy(max_bytes=1024)).body) \
            == 1024
        server.route("/d", Reply(body=[b"a" * 600, b"b" * 425]))
        with pytest.raises(FetchError, match="cap"):
            fetcher.fetch(server.url("/d"), policy=server.policy(max_bytes=1024))


class TestTimeouts:
    def test_silent_server_times_out_within_bounds(self, server: LoopbackServer,
                                                   fetcher: HttpFetcher) -> None:
        server.route("/slow", Reply(body=b"late", delay=1.5))
        url = server.url("/slow")
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out") as info:
            fetcher.fetch(url, policy=server.policy(timeout=0.2))
        assert time.monotonic() - started < 1.2
        _one_line_naming(info.value, url)
        assert len(server.requests) == 3  # timeouts are retried

    def test_trickling_server_stopped_by_total_timeout(self, server: LoopbackServer,
                                                       fetcher: HttpFetcher) -> None:
        def trickle() -> Iterator[bytes]:
            for _ in range(50):
                yield b"x"
                if server.stopping.wait(0.05):
                    return
        server.route("/drip", Reply(body=trickle()))
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"longer than 0\.3 s"):
            fetcher.fetch(server.url("/drip"), policy=server.policy(timeout=1.0,
                                                                    total_timeout=0.3))
        assert time.monotonic() - started < 1.0
        assert len(server.requests) == 1


class TestRedirects:
    """Redirects are followed by hand, each target checked before it is requested."""

    def test_redirect_within_allow_list_followed(self, server: LoopbackServer,
                                                 fetcher: HttpFetcher) -> None:
        server.route("/old.crl", Reply(status=301, headers={"Location": "/CRL/new.crl"}))
        server.route("/CRL/new.crl", Reply(body=CRL_BYTES))
        result = fetcher.fetch(server.url("/old.crl"), policy=server.policy())
        assert result.final_url == server.url("/CRL/new.crl")
        assert result.body == CRL_BYTES
        assert [r.path for r in server.requests] == ["/old.crl", "/CRL/new.crl"]

    @pytest.mark.parametrize("location", [
        "http://localhost:{port}/x",  # same server, but a name outside the allow-list
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
        "http://user:pw@127.0.0.1:{port}/x",
        "http://127.0.0.1:1/x",
    ])
    def test_redirect_outside_policy_refused_and_not_requested(
            self, server: LoopbackServer, fetcher: HttpFetcher, location: str) -> None:
        server.route("/r", Reply(status=302,
                                 headers={"Location": location.format(port=server.port)}))
        server.route("/x", Reply(body=b"must not be fetched"))
        url = server.url("/r")
        with pytest.raises(NotAllowedError, match="redirect refused") as info:
            fetcher.fetch(url, policy=server.policy())
        _one_line_naming(info.value, url)
        assert "pw" not in str(info.value)
        assert [r.path for r in server.requests] == ["/r"]

    def test_redirect_loop_detected(self, server: LoopbackServer, fetcher: HttpFetcher) -> None:
        server.route("/a", Reply(status=302, headers={"Location": "/b"}))
        server.route("/b", Reply(status=307, headers={"Location": "/a"}))
        with pytest.raises(FetchError, match="redirect loop"):
            fetcher.fetch(server.url("/a"), policy=server.policy())
        assert [r.path for r in server.requests] == ["/a", "/b"]

    def test_too_many_redirects(self, server: LoopbackServer, fetcher: HttpFetcher) -> None:
        for n in range(5):
            server.route(f"/r{n}", Reply(status=308, headers={"Location": f"/r{n + 1}"}))
        with pytest.raises(FetchError, match="more than 3 redirects"):
            fetcher.fetch(server.url("/r0"), policy=server.policy(max_redirects=3))
        assert [r.path for r in server.requests] == ["/r0", "/r1", "/r2", "/r3"]

    def test_redirect_without_location(self, server: LoopbackServer,
                                       fetcher: HttpFetcher) -> None:
        server.route("/r", Reply(status=302))
        with pytest.raises(FetchError, match="without a Location"):
            fetcher.fetch(server.url("/r"), policy=server.policy())


class TestRefusedWithoutNetwork:
    """Policy refusals happen before any connection (the server records nothing)."""

    @pytest.mark.parametrize("url", [
        "file:///etc/passwd",
        "ftp://127.0.0.1:{port}/c",
        "ldap://127.0.0.1:{port}/cn=x",
        "http://10.0.0.1:{port}/c",
        "http://169.254.169.254:{port}/latest/meta-data/",
        "http://not-listed.example:{port}/c",
        "http://user:pw@127.0.0.1:{port}/c",
        "http://[::ffff:127.0.0.2]:{port}/c",
    ])
    def test_refused(self, server: LoopbackServer, sleeps: list[float], url: str) -> None:
        server.route("/c", Reply(body=b"must not be fetched"))
        resolved: list[str] = []

        def resolver(host: str, port: int) -> list[str]:
            resolved.append(host)
            return ["127.0.0.1"]
        policy = server.policy(hosts=["127.0.0.1", "10.0.0.1", "169.254.169.254"],
                               allow_loopback=False)
        with HttpFetcher(now=lambda: T0, sleep=sleeps.append, resolver=resolver) as f, \
                pytest.raises(NotAllowedError):
            f.fetch(url.format(port=server.port), policy=policy)
        assert (server.requests, resolved, sleeps) == ([], [], [])

    def test_localhost_refused_unless_allow_loopback(self, server: LoopbackServer,
                                                     fetcher: HttpFetcher) -> None:
        server.route("/c", Reply(body=b"ok"))
        url = server.url("/c", host="localhost")
        with pytest.raises(NotAllowedError, match=r"'localhost' resolves to .* loopback"):
            fetcher.fetch(url, policy=server.policy(hosts=["localhost"], allow_loopback=False))
        assert server.requests == []
        result = fetcher.fetch(url, policy=server.policy(hosts=["localhost"]))
        assert result.body == b"ok"
        assert [r.header("host") for r in server.requests] == [f"localhost:{server.port}"]

    def test_connects_to_the_checked_address_with_the_name_in_host(
            self, server: LoopbackServer, fetcher: HttpFetcher) -> None:
        """DNS pinning: one resolution per attempt, the connection goes to its answer."""
        server.route("/CRL/x.crl", Reply(body=b"ok"))
        answers = iter([["127.0.0.1"], ["10.9.9.9"]])  # a rebinding resolver
        with HttpFetcher(now=lambda: T0, resolver=lambda h, p: next(answers)) as f:
            result = f.fetch(server.url("/CRL/x.crl", host="igc-sante.esante.gouv.fr"),
                             policy=server.policy(hosts=["igc-sante.esante.gouv.fr"]))
        assert result.body == b"ok"
        assert server.requests[0].header("host") == f"igc-sante.esante.gouv.fr:{server.port}"
        assert next(answers) == ["10.9.9.9"]  # never asked a second time
