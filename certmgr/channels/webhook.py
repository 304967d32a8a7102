"""The webhook channel: a signed JSON POST, retried on transient failures.

Body (UTF-8 JSON, keys sorted):

    {"dedup_key": ..., "subject": ..., "text": ..., "recipients": [...], "data": {...}}

Headers: `Content-Type: application/json`, `X-Certmgr-Alert: <dedup_key>`,
`X-Certmgr-Timestamp: <unix seconds>` and

    X-Certmgr-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + body)>

How a receiver verifies a delivery:
1. read the raw body bytes (before any JSON parsing) and the two headers;
2. refuse a timestamp more than a few minutes away from its own clock (replay);
3. compute `hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()`
   and compare it with the header's hex part using `hmac.compare_digest`;
4. drop a `dedup_key` it has already processed (a retry after a lost reply
   delivers the same body again, with a new timestamp and signature).

Only http and https URLs are accepted; https verifies the server against
`ca_file` (the system store when None). No proxy or .netrc (`trust_env=False`)
and no redirects: a webhook that moved is a configuration to fix. Connection
errors, timeouts, 429 and 5xx are retried with exponential backoff and full
jitter (`certmgr.fetch.retry`); other statuses fail at once. Every failure is a
`DeliveryError` (a `FetchError`); the secret never appears in one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import random
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

import httpx

from certmgr import __version__
from certmgr.channels.base import DeliveryResult, Message
from certmgr.errors import ConfigError, DeliveryError
from certmgr.fetch.retry import RETRY_STATUSES, RetryPolicy, backoff_delay, retry_after_seconds
from certmgr.secrets import Secret

__all__ = ["WebhookChannel", "sign"]


def sign(secret: bytes, *, timestamp: str, body: bytes) -> str:
    """The `X-Certmgr-Signature` value for `body` sent at `timestamp`."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookChannel:
    """POSTs each message to one URL. Use as a context manager, or call `close()`."""

    def __init__(self, url: str, *, secret: Secret, now: Callable[[], dt.datetime],
                 name: str = "webhook", timeout: float = 10.0,
                 retry: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, ca_file: Path | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(f"webhook {name}: the URL must be http(s)://HOST/...")
        if not secret:
            raise ConfigError(f"webhook {name}: the signing secret is empty")
        self.url = url
        self._name = name
        self._secret = secret
        self._now = now
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        verify: ssl.SSLContext = ssl.create_default_context(
            cafile=None if ca_file is None else str(ca_file))
        self._client = httpx.Client(
            timeout=timeout, verify=verify, trust_env=False, follow_redirects=False,
            headers={"User-Agent": f"certmgr/{__version__}", **(headers or {})})

    @property
    def name(self) -> str:
        return self._name

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def payload(self, message: Message) -> bytes:
        """The exact body sent for `message`."""
        document = {"dedup_key": message.dedup_key, "subject": message.subject,
                    "text": message.text, "recipients": list(message.recipients),
                    "data": dict(message.data)}
        return json.dumps(document, sort_keys=True, ensure_ascii=False,
                          default=str).encode("utf-8")

    def send(self, message: Message) -> DeliveryResult:
        body = self.payload(message)
        where = f"webhook {self._name}"
        last = ""
        for attempt in range(1, self._retry.attempts + 1):
            timestamp = str(int(self._now().timestamp()))
            headers = {**message.headers, "Content-Type": "application/json",
                       "X-Certmgr-Alert": message.dedup_key,
                       "X-Certmgr-Timestamp": timestamp,
                       "X-Certmgr-Signature": sign(self._secret.reveal(), timestamp=timestamp,
                                                   body=body)}
            delay: float | None = None
            try:
                response = self._client.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:  # connection refused, timeouts, TLS
                last = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= response.status_code < 300:
                    return DeliveryResult(channel=self._name, accepted=message.recipients,
                                          attempts=attempt,
                                          detail=f"HTTP {response.status_code}")
                last = f"HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUSES:
                    raise DeliveryError(f"{where}: {self._safe_url()} answered {last}")
                delay = retry_after_seconds(response.headers.get("retry-after"),
                                            policy=self._retry)
            if attempt < self._retry.attempts:
                if delay is None:
                    delay = backoff_delay(attempt - 1, policy=self._retry, rng=self._rng)
                self._sleep(delay)
        raise DeliveryError(f"{where}: {self._safe_url()} failed after {self._retry.attempts} "
                         f"attempt(s): {last}")

    def _safe_url(self) -> str:
        # Credentials in the URL's user-info must not reach an error message.
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"
