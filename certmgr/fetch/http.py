"""Downloading CRLs and trust bundles over HTTP(S), inside a `UrlPolicy`.

`HttpFetcher.fetch` checks the URL, resolves and checks the host's addresses,
connects to a checked address (the `Host` header and TLS SNI carry the name),
and reads the body under a byte cap, aborting as soon as the cap is passed.
Redirects are followed by hand, each new URL checked against the same policy
before it is requested. Transient failures are retried (see `certmgr.fetch.retry`).

Every failure is a `FetchError` (a `NotAllowedError` for policy refusals) with
one line naming the URL and the reason; no httpx exception leaves this module.
httpx's proxy and .netrc support is off (`trust_env=False`): a proxy would
defeat the address check.
"""

from __future__ import annotations

import datetime as dt
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from types import MappingProxyType, TracebackType
from typing import Protocol, Self

import httpx

from certmgr import __version__
from certmgr.errors import FetchError, NotAllowedError
from certmgr.fetch.policy import IPAddress, ParsedUrl, Resolver, UrlPolicy, system_resolver
from certmgr.fetch.retry import RETRY_STATUSES, RetryPolicy, backoff_delay, retry_after_seconds

__all__ = ["USER_AGENT", "FetchResult", "Fetcher", "HttpFetcher"]

USER_AGENT = f"certmgr/{__version__}"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A completed download: status 200 with the body, or 304 (not modified) without one."""

    url: str  # as asked for
    final_url: str  # after redirects, normalised
    status: int
    body: bytes
    headers: Mapping[str, str]  # lower-case names, repeated headers joined with ", "
    fetched_at: dt.datetime  # from the fetcher's `now`, when the body was complete
    elapsed: dt.timedelta
    attempts: int = 1

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> dt.datetime | None:
        """The `Last-Modified` header as an aware UTC datetime, None if absent or unreadable."""
        raw = self.headers.get("last-modified")
        if raw is None:
            return None
        try:
            value = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Fetcher(Protocol):
    """Downloads one URL inside a policy; raises FetchError / NotAllowedError."""

    def fetch(self, url: str, *, policy: UrlPolicy, etag: str | None = None,
              modified_since: dt.datetime | None = None) -> FetchResult: ...


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Failure:
    reason: str
    retryable: bool


class HttpFetcher:
    """The `Fetcher` on httpx. Reuse one per run and close it (or use `with`).

    `now` stamps `FetchResult.fetched_at`; `sleep` and `rng` drive the backoff
    (tests pass a recorder and a seeded Random); `resolver` maps a name to
    addresses (default `socket.getaddrinfo`); `verify` is httpx's TLS setting.
    """

    def __init__(self, *, now: Callable[[], dt.datetime], retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                 resolver: Resolver = system_resolver,
                 verify: ssl.SSLContext | bool = True) -> None:
        self._now = now
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._resolver = resolver
        self._client = httpx.Client(
            trust_env=False, follow_redirects=False, verify=verify,
            headers={"User-Agent": USER_AGENT, "Accept": "*/*",
                     # identity only: a compressed body could expand past the byte cap
                     "Accept-Encoding": "identity"},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def fetch(self, url: str, *, policy: UrlPolicy, etag: str | None = None,
              modified_since: dt.datetime | None = None) -> FetchResult:
        """Download `url`; see the module docstring for the contract.

        With `etag` / `modified_since` the request is conditional and a 304 answer
        is returned as a FetchResult with `not_modified` true and an empty body.
        """
        started = time.monotonic()
        headers: dict[str, str] = {}
        if etag is not None:
            headers["If-None-Match"] = etag
        if modified_since is not None:
            headers["If-Modified-Since"] = format_datetime(modified_since.astimezone(dt.UTC),
                                                           usegmt=True)
        current = policy.check_url(url)
        seen = {current.url}
        attempts = 0
        for _hop in range(policy.max_redirects + 1):
            response, used = self._with_retries(url, current, policy, headers)
            attempts += used
            if response.status not in _REDIRECTS:
                break
            current = self._redirect_target(url, current, response, policy)
            if current.url in seen:
                raise FetchError(f"{url}: redirect loop at {current.url}")
            seen.add(current.url)
        else:
            raise FetchError(f"{url}: more than {policy.max_redirects} redirects")
        if response.status not in (200, 304):
            raise FetchError(f"{url}: HTTP {response.status} from {current.url}")
        return FetchResult(url=url, final_url=current.url, status=response.status,
                           body=response.body, headers=response.headers,
                           fetched_at=self._now(),
                           elapsed=dt.timedelta(seconds=time.monotonic() - started),
                           attempts=attempts)

    def _redirect_target(self, url: str, current: ParsedUrl, response: _Response,
                         policy: UrlPolicy) -> ParsedUrl:
        location = response.headers.get("location")
        if not location:
            raise FetchError(f"{url}: HTTP {response.status} without a Location header")
        try:
            target = str(httpx.URL(current.url).join(location))
        except httpx.InvalidURL:
            raise NotAllowedError(f"{url}: redirect refused: invalid Location") from None
        try:
            return policy.check_url(target)
        except NotAllowedError as exc:
            raise NotAllowedError(f"{url}: redirect refused: {exc}") from None

    def _with_retries(self, url: str, target: ParsedUrl, policy: UrlPolicy,
                      headers: Mapping[str, str]) -> tuple[_Response, int]:
        """One URL, retried on transient failures; returns the response and the attempts used."""
        reason = "no attempt"
        retry_after: float | None = None
        for attempt in range(self._retry.attempts):
            if attempt:
                delay = backoff_delay(attempt - 1, policy=self._retry, rng=self._rng)
                self._sleep(max(delay, retry_after or 0.0))
            outcome = self._attempt(target, policy, headers)
            if isinstance(outcome, _Response):
                if outcome.status not in RETRY_STATUSES:
                    return outcome, attempt + 1
                reason = f"HTTP {outcome.status} from {target.url}"
                retry_after = retry_after_seconds(outcome.headers.get("retry-after"),
                                                  policy=self._retry)
                continue
            if not outcome.retryable:
                raise FetchError(f"{url}: {outcome.reason}")
            reason, retry_after = outcome.reason, None
        raise FetchError(f"{url}: {reason} (after {self._retry.attempts} attempts)")

    def _attempt(self, target: ParsedUrl, policy: UrlPolicy,
                 headers: Mapping[str, str]) -> _Response | _Failure:
        try:
            addresses = policy.resolve(target, resolver=self._resolver)
        except NotAllowedError:
            raise
        except FetchError as exc:  # the name did not resolve: DNS failures can be transient
            return _Failure(str(exc).partition(": ")[2], retryable=True)
        failure = _Failure(f"cannot connect to {target.url}", retryable=True)
        for address in addresses:  # the next address only when this one refuses to connect
            try:
                return self._exchange(target, address, policy, headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if _is_certificate_error(exc):  # the same certificate again would not help
                    return _Failure(f"{target.url}: TLS certificate refused: "
                                    f"{_describe(exc)}", retryable=False)
                failure = _Failure(f"cannot connect to {target.url} ({address}): "
                                   f"{_describe(exc)}", retryable=True)
            except httpx.TimeoutException as exc:
                return _Failure(f"{target.url}: timed out ({_describe(exc)})", retryable=True)
            except httpx.TransportError as exc:
                return _Failure(f"{target.url}: {_describe(exc)}", retryable=True)
            except httpx.HTTPError as exc:
                return _Failure(f"{target.url}: {_describe(exc)}", retryable=False)
        return failure

    def _exchange(self, target: ParsedUrl, address: IPAddress, policy: UrlPolicy,
                  headers: Mapping[str, str]) -> _Response:
        """One request to one checked address; body read only for 200."""
        request_url = httpx.URL(scheme=target.scheme, host=str(address), port=target.port,
                                raw_path=target.target.encode("ascii"))
        # The name travels in Host and, for https, in SNI and the certificate check.
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        deadline = time.monotonic() + policy.total_timeout
        with self._client.stream("GET", request_url,
                                 headers={"Host": target.host_header, **headers},
                                 timeout=httpx.Timeout(policy.timeout),
                                 extensions=extensions) as response:
            received = MappingProxyType({k.lower(): v for k, v in response.headers.items()})
            if response.status_code != 200:
                # Redirects, errors and 304: the body is not needed, closing drops it.
                return _Response(response.status_code, received, b"")
            _check_headers(target, received, policy)
            body = _read_capped(target, response, policy, deadline)
        return _Response(response.status_code, received, body)


def _check_headers(target: ParsedUrl, headers: Mapping[str, str], policy: UrlPolicy) -> None:
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError(f"{target.url}: refused: compressed response ({encoding}), "
                         "certmgr asks for identity only")
    length = headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > policy.max_bytes:
        raise FetchError(f"{target.url}: refused: Content-Length {int(length)} exceeds "
                         f"the {policy.max_bytes}-byte cap")


def _read_capped(target: ParsedUrl, response: httpx.Response, policy: UrlPolicy,
                 deadline: float) -> bytes:
    """Read the raw body; stop at the first chunk past the cap or past the deadline."""
    parts: list[bytes] = []
    size = 0
    # No chunk_size: httpx would buffer up to it, hiding a trickle from the deadline check.
    for chunk in response.iter_raw():
        size += len(chunk)
        if size > policy.max_bytes:
            raise FetchError(f"{target.url}: refused: body exceeds the "
                             f"{policy.max_bytes}-byte cap")
        if time.monotonic() > deadline:
            # Not retried: the server answers, only too slowly.
            raise FetchError(f"{target.url}: download took longer than "
                             f"{policy.total_timeout:g} s")
        parts.append(chunk)
    return b"".join(parts)


def _is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe(exc: httpx.HTTPError) -> str:
    """One line for an httpx error, without its type leaking into the API."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
