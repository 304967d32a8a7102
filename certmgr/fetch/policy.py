"""Which URLs certmgr may download from: the allow-list, checked before any network access.

A `UrlPolicy` is a value. `check_url` looks only at the text of the URL (scheme,
userinfo, host, port, IP literals) and never touches the network; `resolve` then
resolves the host name and refuses it when *any* address is private, loopback,
link-local, multicast or reserved, so an allow-listed name cannot be pointed at
an internal service. The fetcher connects to the addresses `resolve` returned
(the IP is pinned), never to a second resolution of the name: DNS rebinding
between the check and the connection is not possible.

URLs are parsed with httpx, the same parser that sends the request, so the URL
that was checked is the URL that is fetched.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from certmgr.errors import FetchError, NotAllowedError

__all__ = [
    "BUNDLE_MAX_BYTES",
    "CRL_MAX_BYTES",
    "DEFAULT_HOSTS",
    "IPAddress",
    "ParsedUrl",
    "Resolver",
    "UrlPolicy",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Iterable[str]]
"""`(host, port) -> addresses as text`; raises OSError when the name does not resolve."""

DEFAULT_HOSTS = ("igc-sante.esante.gouv.fr",)
CRL_MAX_BYTES = 20 * 1024 * 1024
# The IGC Santé chain bundles are a few tens of KiB; 5 MiB leaves ample room.
BUNDLE_MAX_BYTES = 5 * 1024 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FORBIDDEN_CHARS = frozenset(" \t\r\n\\\x00") | frozenset(chr(c) for c in range(32))


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    """A URL that passed `UrlPolicy.check_url`: normalised, without userinfo or fragment."""

    scheme: str
    host: str  # lower-case ASCII (IDNA), no trailing dot, no IPv6 brackets
    port: int  # the effective port, explicit or the scheme's default
    target: str  # path and query as sent on the request line, "/" at least

    @property
    def host_header(self) -> str:
        """The `Host` header value: the name, and the port when it is not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if _DEFAULT_PORTS.get(self.scheme) == self.port else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.target}"

    def __str__(self) -> str:
        return self.url


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with `socket.getaddrinfo`, TCP addresses only, in the system's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """Where downloads may go and how much they may cost.

    `hosts` are compared exactly, case-insensitively (no wildcard, no subdomain).
    `allow_loopback` admits loopback addresses (127.0.0.0/8, ::1) and nothing else
    that is not global; it exists for tests against a loopback server.
    `timeout` bounds connecting and each read; `total_timeout` bounds one whole
    attempt, so a server that trickles bytes cannot hold a download open forever.
    """

    hosts: tuple[str, ...] = DEFAULT_HOSTS
    schemes: tuple[str, ...] = ("http", "https")
    ports: tuple[int, ...] = (80, 443)
    allow_loopback: bool = False
    max_bytes: int = CRL_MAX_BYTES
    timeout: float = 10.0
    total_timeout: float = 60.0
    max_redirects: int = 3

    def __post_init__(self) -> None:
        hosts = tuple(_normalise_host(h) for h in self.hosts)
        object.__setattr__(self, "hosts", hosts)
        object.__setattr__(self, "schemes", tuple(s.lower() for s in self.schemes))
        if not hosts or any(not h for h in hosts):
            raise ValueError("a UrlPolicy needs at least one non-empty host")
        if self.max_bytes <= 0 or self.timeout <= 0 or self.total_timeout <= 0:
            raise ValueError("max_bytes, timeout and total_timeout must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        if not set(self.schemes) <= set(_DEFAULT_PORTS):
            raise ValueError("schemes must be among http and https")

    @classmethod
    def for_crls(cls, hosts: Iterable[str] = DEFAULT_HOSTS) -> UrlPolicy:
        """The policy for CRL downloads (`Settings.crl_hosts`, 20 MiB cap)."""
        return cls(hosts=tuple(hosts), max_bytes=CRL_MAX_BYTES)

    @classmethod
    def for_trust_bundles(cls, hosts: Iterable[str] = DEFAULT_HOSTS) -> UrlPolicy:
        """The policy for trust-chain bundles (`.p7b`, `.pem`; 5 MiB cap)."""
        return cls(hosts=tuple(hosts), max_bytes=BUNDLE_MAX_BYTES)

    def skip_reason(self, url: str) -> str | None:
        """Why a distribution point is not for this fetcher (e.g. `ldap://`), or None.

        Callers walking the CRL distribution points of a certificate skip such URLs
        with this reason instead of failing: IGC Santé certificates carry LDAP
        distribution points next to the HTTP ones.
        """
        scheme = url.partition(":")[0].lower() if ":" in url else ""
        if scheme in self.schemes:
            return None
        allowed = ", ".join(self.schemes)
        return f"{scheme or 'no'} scheme, certmgr downloads over {allowed} only"

    def is_fetchable(self, url: str) -> bool:
        """True when the URL's scheme is one this policy downloads (hosts not checked)."""
        return self.skip_reason(url) is None

    def check_url(self, url: str) -> ParsedUrl:
        """Check the text of `url` against the policy, without any network access.

        Raises NotAllowedError (one line, naming the URL and the reason) for a
        scheme, host or port outside the policy, userinfo, a non-loopback
        non-global IP literal, or an unparsable URL.
        """
        shown = _redact(url)
        if any(c in _FORBIDDEN_CHARS for c in url):
            raise NotAllowedError(f"{shown}: refused: whitespace, backslash or control character")
        try:
            parsed = httpx.URL(url)
            scheme, port = parsed.scheme.lower(), parsed.port
            raw_host = parsed.raw_host.decode("ascii")
        except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
            raise NotAllowedError(f"{shown}: refused: not a valid URL ({exc})") from None
        if scheme not in self.schemes:
            raise NotAllowedError(f"{shown}: refused: scheme {scheme or '(none)'!r} is not "
                                  f"allowed (allowed: {', '.join(self.schemes)})")
        if parsed.userinfo:
            raise NotAllowedError(f"{shown}: refused: credentials in URLs are not allowed")
        host = _normalise_host(raw_host)
        if not host:
            raise NotAllowedError(f"{shown}: refused: no host")
        if host not in self.hosts:
            raise NotAllowedError(f"{shown}: refused: host {host!r} is not in the allow-list "
                                  f"(crl_hosts: {', '.join(self.hosts)})")
        effective_port = _DEFAULT_PORTS[scheme] if port is None else port
        if effective_port not in self.ports:
            raise NotAllowedError(f"{shown}: refused: port {effective_port} is not allowed")
        literal = _ip_literal(host)
        if literal is not None:
            self._check_address(literal, shown)
        target = parsed.raw_path.decode("ascii") or "/"
        return ParsedUrl(scheme=scheme, host=host, port=effective_port, target=target)

    def resolve(self, parsed: ParsedUrl, *, resolver: Resolver = system_resolver,
                ) -> tuple[IPAddress, ...]:
        """The addresses to connect to for `parsed`, every one of them checked.

        Raises NotAllowedError when any address is refused (a name that resolves
        to an internal address is refused even when allow-listed), FetchError when
        the name does not resolve.
        """
        literal = _ip_literal(parsed.host)
        if literal is not None:
            return (literal,)
        try:
            raw = list(resolver(parsed.host, parsed.port))
        except OSError as exc:
            raise FetchError(f"{parsed.url}: cannot resolve {parsed.host!r}: {exc}") from None
        addresses: list[IPAddress] = []
        for text in raw:
            address = ipaddress.ip_address(text.partition("%")[0])  # drop an IPv6 zone id
            self._check_address(address, parsed.url, resolved_from=parsed.host)
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise FetchError(f"{parsed.url}: cannot resolve {parsed.host!r}: no address")
        return tuple(addresses)

    def _check_address(self, address: IPAddress, shown: str, *,
                       resolved_from: str | None = None) -> None:
        reason = _address_refusal(address, allow_loopback=self.allow_loopback)
        if reason is None:
            return
        where = f"{resolved_from!r} resolves to {address}" if resolved_from else str(address)
        raise NotAllowedError(f"{shown}: refused: {where}, a {reason} address")


def _address_refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """The kind of a refused address, or None when it may be contacted."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    for kind, flag in (("unspecified", address.is_unspecified),
                       ("link-local", address.is_link_local),
                       ("multicast", address.is_multicast),
                       ("private", address.is_private),
                       ("reserved", address.is_reserved)):
        if flag:
            return kind
    # Shared (100.64/10), documentation and similar ranges are neither private nor global.
    return None if address.is_global else "non-global"


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _normalise_host(host: str) -> str:
    return host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


def _redact(url: str) -> str:
    """The URL for an error message: one line, without credentials."""
    scheme, sep, rest = url.partition("://")
    if sep:
        authority, slash, tail = rest.partition("/")
        if "@" in authority:
            rest = "***@" + authority.rpartition("@")[2] + slash + tail
    text = f"{scheme}{sep}{rest}"
    return text if text.isprintable() else repr(text)
