"""The webhook channel against a real HTTP server on loopback: signature, retries, refusals."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import random
import socket
from collections.abc import Iterator

import pytest

from certmgr.channels import Message, WebhookChannel
from certmgr.clock import FixedClock
from certmgr.errors import ConfigError, FetchError
from certmgr.fetch.retry import RetryPolicy
from certmgr.secrets import Secret

from ._post_server import PostServer, post_server

T0 = dt.datetime(2026, 3, 1, 7, 30, tzinfo=dt.UTC)
SECRET = b"shared-webhook-secret"


@pytest.fixture
def server() -> Iterator[PostServer]:
    with post_server() as srv:
        yield srv


def _message() -> Message:
    return Message(recipients=("admin@hopital.fr",), subject="[certmgr] Expiré é",
                   text="Le certificat a expiré.\n", dedup_key="expired-0123abcd",
                   data={"kind": "expired", "mailbox": "bal@hopital.mssante.fr"})


def _channel(url: str, sleeps: list[float], *, attempts: int = 3) -> WebhookChannel:
    return WebhookChannel(url, secret=Secret(SECRET), now=FixedClock(T0).now,
                          retry=RetryPolicy(attempts=attempts, base_delay=0.5, max_delay=4.0),
                          sleep=sleeps.append, rng=random.Random(3), timeout=2.0)


def _verify(secret: bytes, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check, exactly as the module docstring describes it."""
    timestamp = headers["x-certmgr-timestamp"]
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    scheme, _, given = headers["x-certmgr-signature"].partition("=")
    return scheme == "sha256" and hmac.compare_digest(expected, given)


class TestDelivery:
    def test_signed_json_post(self, server: PostServer) -> None:
        sleeps: list[float] = []
        with _channel(server.url, sleeps) as channel:
            result = channel.send(_message())
        [posted] = server.received
        assert posted.path == "/hook"
        assert posted.headers["content-type"] == "application/json"
        assert posted.headers["x-certmgr-alert"] == "expired-0123abcd"
        assert posted.headers["x-certmgr-timestamp"] == str(int(T0.timestamp()))
        assert _verify(SECRET, posted.headers, posted.body)
        assert not _verify(b"another secret", posted.headers, posted.body)
        assert not _verify(SECRET, posted.headers, posted.body + b" ")
        document = json.loads(posted.body.decode("utf-8"))
        assert document["subject"] == "[certmgr] Expiré é"
        assert document["data"]["mailbox"] == "bal@hopital.mssante.fr"
        assert "Expiré".encode() in posted.body  # UTF-8, not \\u escapes
        assert result.attempts == 1
        assert sleeps == []

    def test_retried_after_a_500_then_delivered(self, server: PostServer) -> None:
        server.statuses = [500, 503]
        sleeps: list[float] = []
        with _channel(server.url, sleeps) as channel:
            result = channel.send(_message())
        assert len(server.received) == 3
        assert result.attempts == 3
        assert len(sleeps) == 2
        assert 0 <= sleeps[0] <= 0.5
        assert 0 <= sleeps[1] <= 1.0
        # the same body each time, each one signed
        assert len({p.body for p in server.received}) == 1
        assert all(_verify(SECRET, p.headers, p.body) for p in server.received)

    def test_gives_up_after_the_last_attempt(self, server: PostServer) -> None:
        server.statuses = [502, 502]
        sleeps: list[float] = []
        with _channel(server.url, sleeps, attempts=2) as channel, \
                pytest.raises(FetchError, match="after 2 attempt"):
            channel.send(_message())
        assert len(server.received) == 2
        assert len(sleeps) == 1

    def test_client_error_is_not_retried(self, server: PostServer) -> None:
        server.statuses = [403]
        sleeps: list[float] = []
        with _channel(server.url, sleeps) as channel, pytest.raises(FetchError, match="403"):
            channel.send(_message())
        assert len(server.received) == 1
        assert sleeps == []

    def test_connection_refused_is_retried_then_fails(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        sleeps: list[float] = []
        with _channel(f"http://127.0.0.1:{port}/hook", sleeps) as channel, \
                pytest.raises(FetchError, match="ConnectError"):
            channel.send(_message())
        assert len(sleeps) == 2

    def test_url_credentials_stay_out_of_errors(self, server: PostServer) -> None:
        server.statuses = [404]
        url = server.url.replace("http://", "http://user:topsecret@")
        with _channel(url, []) as channel, pytest.raises(FetchError) as info:
            channel.send(_message())
        assert "topsecret" not in str(info.value)


class TestRefusals:
    @pytest.mark.parametrize("url", ["ftp://example.org/hook", "file:///etc/passwd",
                                     "https:///nohost"])
    def test_only_http_urls(self, url: str) -> None:
        with pytest.raises(ConfigError, match="http"):
            WebhookChannel(url, secret=Secret(SECRET), now=FixedClock(T0).now)

    def test_empty_secret(self) -> None:
        with pytest.raises(ConfigError, match="secret"):
            WebhookChannel("https://example.org/hook", secret=Secret(b""),
                           now=FixedClock(T0).now)
