"""TLS probes: connect to a mail server the way an MSSanté mailbox does, and record what it says.

    observation = probe_tls(ProbeTarget("imap.operator.example", 143, StartTls.IMAP),
                            timeout=10.0, client=credentials)

The probe resolves the host, connects, performs STARTTLS when asked (SMTP: EHLO then
STARTTLS; IMAP: `a1 STARTTLS`), does the TLS handshake with pyOpenSSL, and records the
protocol version, the cipher, the FULL chain the server presented (in its order), whether the
server asked for a client certificate (and which CAs it names), and what the server said once
TLS was up (SMTP: the reply to EHLO; IMAP: the tagged reply to `a2 CAPABILITY`; implicit TLS
(`StartTls.NONE`): whatever the server says first within `greeting_wait`, e.g. an IMAPS or
SMTPS greeting, followed by EHLO for SMTPS). With TLS 1.3 a server checks the client
certificate after the client's handshake is over, so its refusal only shows as an alert on
the first read: that read is why the application step exists.

It never judges: no certificate is verified here (`certmgr.services.probe` validates the
chain with the validation engine). Old protocol versions and weak ciphers are allowed
(`@SECLEVEL=0`) on purpose, so that a server offering only TLS 1.1 is *observed* and
reported rather than failing as an opaque handshake error.

Every network outcome is a value: `TlsObservation.failure` says which stage failed and how
(DNS, refused, timeout, STARTTLS refused, TLS alert...). The whole probe, name resolution
excepted (the system resolver has no timeout), stays within `timeout` seconds. Only
`InputError` (bad arguments, a key that does not match its certificate) is raised.
"""

from __future__ import annotations

import enum
import errno
import functools
import ipaddress
import re
import select
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from OpenSSL import SSL

from certmgr.errors import InputError

__all__ = [
    "DEFAULT_PORTS",
    "ClientCredentials",
    "FailureKind",
    "ProbeFailure",
    "ProbeTarget",
    "Stage",
    "StartTls",
    "TlsObservation",
    "probe_tls",
]

_T = TypeVar("_T")
_MAX_LINE = 8192
_MAX_LINES = 200
_SETTLE_SECONDS = 0.3
_ALERT = re.compile(r"alert (?P<name>[a-z0-9 _]+)$")


class StartTls(enum.StrEnum):
    SMTP = "smtp"
    IMAP = "imap"
    NONE = "none"  # TLS from the first byte (IMAPS 993, SMTPS 465, HTTPS 443)


DEFAULT_PORTS: Mapping[StartTls, int] = MappingProxyType(
    {StartTls.SMTP: 25, StartTls.IMAP: 143, StartTls.NONE: 443})


class Stage(enum.StrEnum):
    RESOLVE = "resolve"
    CONNECT = "connect"
    GREETING = "greeting"
    STARTTLS = "starttls"
    HANDSHAKE = "handshake"
    APPLICATION = "application"  # after the handshake: EHLO / CAPABILITY / greeting


class FailureKind(enum.StrEnum):
    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    NETWORK = "network"
    STARTTLS_UNSUPPORTED = "starttls-unsupported"
    PROTOCOL = "protocol"
    ALERT = "alert"
    HANDSHAKE = "handshake"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    host: str
    port: int
    starttls: StartTls = StartTls.NONE

    def __post_init__(self) -> None:
        object.__setattr__(self, "starttls", StartTls(self.starttls))
        if not self.host or any(c.isspace() for c in self.host):
            raise InputError(f"invalid host name {self.host!r}")
        if not 0 < self.port < 65536:
            raise InputError(f"invalid port {self.port} (1-65535)")

    @property
    def is_ip_literal(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """A client certificate, its key and the intermediates to send with it."""

    certificate: x509.Certificate
    key: PrivateKeyTypes
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        mine = self.key.public_key().public_bytes(serialization.Encoding.DER, spki)
        if self.certificate.public_key().public_bytes(serialization.Encoding.DER, spki) != mine:
            raise InputError("the private key does not match the client certificate")

    def __repr__(self) -> str:  # never print key material
        return f"ClientCredentials({self.certificate.subject.rfc4514_string()})"


@dataclass(frozen=True, slots=True)
class ProbeFailure:
    kind: FailureKind
    stage: Stage
    detail: str
    alert: str | None = None
    """The TLS alert's description (e.g. "unknown ca") when `kind` is ALERT."""


@dataclass(frozen=True, slots=True)
class TlsObservation:
    """What one probe saw. `chain` holds the DER certificates in the order presented."""

    target: ProbeTarget
    address: str | None = None
    handshake_completed: bool = False
    protocol: str | None = None
    cipher: str | None = None
    chain: tuple[bytes, ...] = ()
    client_cert_requested: bool = False
    client_ca_names: tuple[str, ...] = ()
    client_cert_sent: bool = False
    greeting: tuple[str, ...] = ()
    """The server's first reply: before STARTTLS, or after the handshake for implicit TLS."""
    response: tuple[str, ...] = ()
    """After TLS: SMTP EHLO reply, IMAP tagged CAPABILITY reply (or the IMAPS greeting)."""
    failure: ProbeFailure | None = None
    elapsed_seconds: float = 0.0


class _Failed(Exception):  # noqa: N818 - internal control flow, never leaves this module
    def __init__(self, failure: ProbeFailure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


def probe_tls(target: ProbeTarget, *, timeout: float, client: ClientCredentials | None = None,
              greeting_wait: float = 2.0) -> TlsObservation:
    """Probe `target` (see the module docstring); never raises for a network outcome."""
    if timeout <= 0:
        raise InputError(f"the timeout must be positive, got {timeout}")
    return _Probe(target, timeout=timeout, client=client, greeting_wait=greeting_wait).run()


@dataclass(slots=True)
class _Probe:
    target: ProbeTarget
    timeout: float
    client: ClientCredentials | None
    greeting_wait: float
    stage: Stage = Stage.RESOLVE
    rec: dict[str, Any] = field(default_factory=dict)
    sock: socket.socket | None = None
    conn: SSL.Connection | None = None
    deadline: float = 0.0
    buffer: bytes = b""
    states: list[bytes] = field(default_factory=list)

    def run(self) -> TlsObservation:
        start = time.monotonic()
        self.deadline = start + self.timeout
        failure: ProbeFailure | None = None
        try:
            self._steps()
        except _Failed as exc:
            failure = exc.failure
        finally:
            if self.sock is not None:
                self.sock.close()
        return TlsObservation(target=self.target, failure=failure,
                              elapsed_seconds=round(time.monotonic() - start, 3), **self.rec)

    def fail(self, kind: FailureKind, detail: str, alert: str | None = None) -> _Failed:
        return _Failed(ProbeFailure(kind, self.stage, detail, alert))

    # ------------------------------------------------------------ steps

    def _steps(self) -> None:
        self.sock = self._connect()
        self.rec["address"] = self.sock.getpeername()[0]
        mode = self.target.starttls
        if mode is StartTls.SMTP:
            self.stage = Stage.GREETING
            self.rec["greeting"] = self._smtp_reply(expect="220")
            self.stage = Stage.STARTTLS
            ehlo = self._smtp_ehlo()
            if not any(line[4:].strip().upper() == "STARTTLS" for line in ehlo):
                raise self.fail(FailureKind.STARTTLS_UNSUPPORTED,
                                "the server does not offer STARTTLS in its EHLO reply")
            self._send(b"STARTTLS\r\n")
            reply = self._read_reply(smtp=True)
            if not reply[-1].startswith("220"):
                raise self.fail(FailureKind.STARTTLS_UNSUPPORTED,
                                f"STARTTLS refused: {reply[-1]}")
        elif mode is StartTls.IMAP:
            self.stage = Stage.GREETING
            greeting = self._read_line()
            self.rec["greeting"] = (greeting,)
            if not greeting.upper().startswith(("* OK", "* PREAUTH")):
                raise self.fail(FailureKind.PROTOCOL, f"unexpected IMAP greeting: {greeting}")
            self.stage = Stage.STARTTLS
            self._send(b"a1 STARTTLS\r\n")
            reply = self._read_tagged("a1")
            if not reply[-1].upper().startswith("A1 OK"):
                raise self.fail(FailureKind.STARTTLS_UNSUPPORTED,
                                f"STARTTLS refused: {reply[-1]}")
        if self.buffer:
            # Bytes sent before the handshake would be read as if protected by TLS
            # (STARTTLS command injection): refuse to go on.
            raise self.fail(FailureKind.PROTOCOL, "the server sent data before the TLS handshake")
        self.stage = Stage.HANDSHAKE
        self._handshake()
        self.stage = Stage.APPLICATION
        self._application(mode)

    def _connect(self) -> socket.socket:
        try:
            infos = socket.getaddrinfo(self.target.host, self.target.port,
                                       type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise self.fail(FailureKind.DNS, f"cannot resolve {self.target.host}: {exc}") from None
        self.stage = Stage.CONNECT
        errors: list[OSError] = []
        for family, kind, proto, _name, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self._remaining())
                sock.connect(address)
            except OSError as exc:
                sock.close()
                errors.append(exc)
                if isinstance(exc, TimeoutError) or self._remaining() <= 0:
                    break
                continue
            return sock
        if any(isinstance(e, TimeoutError) for e in errors):
            raise self.fail(FailureKind.TIMEOUT, f"no answer to the connection within "
                            f"{self.timeout:g} s")
        if errors and all(e.errno == errno.ECONNREFUSED for e in errors):
            raise self.fail(FailureKind.REFUSED, "connection refused")
        reason = errors[-1].strerror if errors else "no address"
        raise self.fail(FailureKind.NETWORK, f"cannot connect: {reason}")

    def _handshake(self) -> None:
        assert self.sock is not None
        context = SSL.Context(SSL.TLS_METHOD)
        context.set_min_proto_version(SSL.TLS1_VERSION)
        context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
        context.set_verify(SSL.VERIFY_NONE, lambda *_: True)
        context.set_info_callback(lambda conn, _where, _ret: self.states.append(
            conn.get_state_string()))
        if self.client is not None:
            # The installed types-pyOpenSSL stubs predate pyOpenSSL 24's cryptography-object
            # API (passing pyOpenSSL X509/PKey objects is deprecated at run time).
            modern: Any = context
            modern.use_certificate(self.client.certificate)
            modern.use_privatekey(self.client.key)
            for extra in self.client.chain:
                modern.add_extra_chain_cert(extra)
        conn = SSL.Connection(context, self.sock)
        if not self.target.is_ip_literal:
            conn.set_tlsext_host_name(self.target.host.encode("idna"))
        conn.set_connect_state()
        self.sock.settimeout(0.0)  # non-blocking: _tls waits with select
        self.conn = conn
        try:
            self._tls(conn.do_handshake)
            self.rec["handshake_completed"] = True
        finally:
            self._record_tls(conn)

    def _record_tls(self, conn: SSL.Connection) -> None:
        modern: Any = conn  # see _handshake: the stubs lack `as_cryptography`
        chain = modern.get_peer_cert_chain(as_cryptography=True) or []
        self.rec["chain"] = tuple(
            c.public_bytes(serialization.Encoding.DER) for c in chain)
        requested = any(b"certificate request" in s for s in self.states)
        self.rec["client_cert_requested"] = requested
        self.rec["client_cert_sent"] = requested and self.client is not None
        names = modern.get_client_ca_list(as_cryptography=True) if requested else []
        self.rec["client_ca_names"] = tuple(n.rfc4514_string() for n in names)
        if self.rec.get("handshake_completed") or chain:
            version = conn.get_protocol_version_name()
            self.rec["protocol"] = None if version == "unknown" else version
            self.rec["cipher"] = conn.get_cipher_name()

    def _application(self, mode: StartTls) -> None:
        if self.rec.get("client_cert_requested") and self.rec.get("protocol") == "TLSv1.3":
            self._settle()
        if mode is StartTls.SMTP:
            self.rec["response"] = self._smtp_ehlo()
        elif mode is StartTls.IMAP:
            self._send(b"a2 CAPABILITY\r\n")
            self.rec["response"] = self._read_tagged("a2")
        else:
            self._implicit_greeting()

    def _implicit_greeting(self) -> None:
        """Implicit TLS: IMAPS/SMTPS servers speak first; HTTPS servers wait (not a failure)."""
        assert self.conn is not None
        saved, self.deadline = self.deadline, min(self.deadline,
                                                  time.monotonic() + self.greeting_wait)
        try:
            first = self._read_line()
        except _Failed as exc:
            if exc.failure.kind is FailureKind.TIMEOUT and time.monotonic() < saved:
                return
            raise
        finally:
            self.deadline = saved
        if first.startswith("220"):
            lines = [first]
            while lines[-1][3:4] == "-":
                lines.append(self._read_line())
            self.rec["greeting"] = tuple(lines)
            self.rec["response"] = self._smtp_ehlo()
        else:
            self.rec["greeting"] = self.rec["response"] = (first,)

    # ------------------------------------------------------------ line protocol

    def _smtp_reply(self, *, expect: str) -> tuple[str, ...]:
        reply = self._read_reply(smtp=True)
        if not reply[-1].startswith(expect):
            raise self.fail(FailureKind.PROTOCOL, f"unexpected SMTP reply: {reply[-1]}")
        return reply

    def _smtp_ehlo(self) -> tuple[str, ...]:
        assert self.sock is not None
        local = self.sock.getsockname()[0]
        literal = f"[IPv6:{local}]" if ":" in local else f"[{local}]"
        self._send(f"EHLO {literal}\r\n".encode("ascii"))
        return self._read_reply(smtp=True)

    def _read_reply(self, *, smtp: bool) -> tuple[str, ...]:
        lines = [self._read_line()]
        while smtp and lines[-1][3:4] == "-" and len(lines) < _MAX_LINES:
            lines.append(self._read_line())
        return tuple(lines)

    def _read_tagged(self, tag: str) -> tuple[str, ...]:
        lines = [self._read_line()]
        while not lines[-1].upper().startswith(f"{tag.upper()} ") and len(lines) < _MAX_LINES:
            lines.append(self._read_line())
        return tuple(lines)

    def _read_line(self) -> str:
        while b"\n" not in self.buffer:
            if len(self.buffer) > _MAX_LINE:
                raise self.fail(FailureKind.PROTOCOL, "the server sent an overlong line")
            data = self._recv()
            if not data:
                raise self.fail(FailureKind.CLOSED, "the server closed the connection")
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def _recv(self) -> bytes:
        if self.conn is not None:
            conn = self.conn
            return self._tls(lambda: conn.recv(4096))
        assert self.sock is not None
        if time.monotonic() >= self.deadline:
            raise self._timeout()
        self.sock.settimeout(self._remaining())
        try:
            return self.sock.recv(4096)
        except TimeoutError:
            raise self._timeout() from None
        except OSError as exc:
            raise self.fail(FailureKind.CLOSED, f"connection lost: {exc.strerror}") from None

    def _send(self, data: bytes) -> None:
        if self.conn is not None:
            conn = self.conn
            view = memoryview(data)
            while view:
                view = view[self._tls(functools.partial(conn.send, view)):]
            return
        assert self.sock is not None
        self.sock.settimeout(self._remaining())
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise self._timeout() from None
        except OSError as exc:
            raise self.fail(FailureKind.CLOSED, f"connection lost: {exc.strerror}") from None

    # ------------------------------------------------------------ TLS plumbing

    def _tls(self, op: Callable[[], _T]) -> _T:
        """Run a pyOpenSSL call on the non-blocking socket until it completes or time is up."""
        assert self.sock is not None
        while True:
            if time.monotonic() >= self.deadline:  # a server that drips bytes gains no time
                raise self._timeout()
            try:
                return op()
            except SSL.WantReadError:
                self._wait(read=True)
            except SSL.WantWriteError:
                self._wait(read=False)
            except SSL.Error as exc:
                raise self._tls_failure(exc) from None

    def _tls_failure(self, exc: SSL.Error) -> _Failed:
        if isinstance(exc, SSL.ZeroReturnError):
            return self.fail(FailureKind.CLOSED, "the server closed the TLS connection")
        if isinstance(exc, SSL.SysCallError):
            kind = FailureKind.HANDSHAKE if self.stage is Stage.HANDSHAKE else FailureKind.CLOSED
            return self.fail(kind, f"connection closed by the server ({_reason(exc)})")
        reason = _reason(exc)
        match = _ALERT.search(reason)
        if match:
            return self.fail(FailureKind.ALERT, f"TLS alert from the server: {reason}",
                             alert=match.group("name").strip())
        return self.fail(FailureKind.HANDSHAKE, f"TLS failure: {reason}")

    def _settle(self) -> None:
        """TLS 1.3, client certificate asked for: give the server's verdict a moment to arrive.

        The server judges the certificate after our handshake is over. Were we to write at
        once, a refusing server that closes with our bytes unread resets the connection, and
        the reset can destroy its alert (which names the reason) before we read it. An
        accepting server sends session tickets, which end the wait at once.
        """
        assert self.sock is not None
        assert self.conn is not None
        end = min(self.deadline, time.monotonic() + _SETTLE_SECONDS)
        while (left := end - time.monotonic()) > 0:
            if not select.select([self.sock], [], [], left)[0]:
                return
            try:
                self.buffer += self.conn.recv(4096)
            except SSL.WantReadError:
                return  # a handshake record (session ticket): the server accepted us
            except SSL.Error as exc:
                raise self._tls_failure(exc) from None
            else:
                return

    def _wait(self, *, read: bool) -> None:
        assert self.sock is not None
        remaining = self._remaining()
        ready = select.select([self.sock] if read else [], [] if read else [self.sock], [],
                              remaining)
        if not any(ready):
            raise self._timeout()

    def _remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)

    def _timeout(self) -> _Failed:
        return self.fail(FailureKind.TIMEOUT,
                         f"no answer from the server within {self.timeout:g} s ({self.stage})")


def _reason(exc: Exception) -> str:
    """OpenSSL's reason strings ("tlsv1 alert unknown ca"), or the exception's text."""
    parts: list[str] = []
    for arg in exc.args:
        if isinstance(arg, list):
            parts += [str(item[-1]) for item in arg if isinstance(item, tuple) and item]
        elif isinstance(arg, tuple) and len(arg) == 2:
            parts.append(str(arg[1]))
        elif arg:
            parts.append(str(arg))
    return "; ".join(parts) or type(exc).__name__
