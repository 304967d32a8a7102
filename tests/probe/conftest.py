"""Probe fixtures: a now-relative fixture PKI, real TLS servers on loopback, and a
recording alert channel.

The servers use Python's `ssl` (a different OpenSSL build than pyOpenSSL's, which is what an
operator's server is to certmgr anyway). The PKI is built at the start of the session at
the current instant (truncated to the second): the servers' OpenSSL checks client
certificates against the real clock, and the probe is run with `--at` that same instant.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import pytest
from aiosmtpd.controller import Controller

from certmgr.channels.base import DeliveryResult, Message
from certmgr.cli import run
from certmgr.testpki import PkiIndex, build_pki

KEYS = Path(__file__).resolve().parents[2] / "certmgr" / "testpki" / "keys"


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        value = json.loads(self.out)
        assert isinstance(value, dict)
        return value

    def codes(self) -> set[str]:
        return {f["code"] for f in self.json()["findings"]}


Invoke = Callable[..., Outcome]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Invoke:
    """Run `certmgr --home <empty tmp> ARGS...` in-process."""

    def invoke(*args: str | Path) -> Outcome:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            run(["--home", str(tmp_path / "home"), *[str(a) for a in args]])
        captured = capsys.readouterr()
        code = info.value.code
        return Outcome(int(code) if isinstance(code, int) else 0, captured.out, captured.err)

    return invoke


@dataclass(frozen=True)
class Pki:
    index: PkiIndex
    at: dt.datetime

    @property
    def at_text(self) -> str:
        return self.at.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def trust(self) -> Path:
        return self.index.path("chain", "p7b")

    def cert(self, name: str) -> Path:
        return self.index.path(name, "pem")

    def key(self, name: str) -> Path:
        return KEYS / f"{name}.TEST-KEY.pem"

    def chain_file(self, directory: Path, *names: str) -> Path:
        """PEM file with the named certificates, in order (a leaf then its CAs)."""
        target = directory / ("-".join(names) + ".pem")
        target.write_bytes(b"".join(self.cert(n).read_bytes() for n in names))
        return target


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    out = tmp_path_factory.mktemp("pki")
    return Pki(build_pki(out_dir=out, at=at), at)


def server_context(pki: Pki, directory: Path, *, leaf: str = "el-org-serv-ssl",
                   chain: tuple[str, ...] = ("ACI-EL-ORG",), verify_clients: bool = False,
                   client_cas: tuple[str, ...] = ("ACR-EL", "ACI-EL-ORG"),
                   tls11_only: bool = False, tls12_max: bool = False) -> ssl.SSLContext:
    """A server context presenting `leaf` and `chain`; `verify_clients`: it requires a
    client certificate issued under `client_cas` (the fixture IGC Santé EL CAs)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if tls12_max:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pki.chain_file(directory, leaf, *chain), pki.key(leaf))
    if verify_clients:
        context.verify_mode = ssl.CERT_REQUIRED
        for ca in client_cas:
            context.load_verify_locations(pki.cert(ca))
    if tls11_only:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
            context.minimum_version = ssl.TLSVersion.TLSv1_1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def _readline(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        byte = sock.recv(1)
        if not byte:
            break
        data += byte
    return data


@dataclass
class ImapServer:
    """An IMAP-like greeting server: `* OK`, `a1 STARTTLS`, then `CAPABILITY` over TLS.

    `implicit`: TLS from the first byte (IMAPS); `starttls=False`: refuses STARTTLS.
    """

    context: ssl.SSLContext
    implicit: bool = False
    starttls: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    errors: list[str] = field(default_factory=list)
    _listener: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Self:
        self._listener = socket.create_server((self.host, 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._serve)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        assert self._listener is not None
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._spawn(self._handle, conn)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        sock: socket.socket = conn
        try:
            if self.implicit:
                sock = self.context.wrap_socket(conn, server_side=True)
            sock.sendall(b"* OK IMAP4rev1 ready\r\n")
            while line := _readline(sock):
                tag, _, command = line.decode().strip().partition(" ")
                if command.upper() == "STARTTLS" and self.starttls and sock is conn:
                    sock.sendall(f"{tag} OK Begin TLS\r\n".encode())
                    sock = self.context.wrap_socket(conn, server_side=True)
                elif command.upper() == "STARTTLS":
                    sock.sendall(f"{tag} BAD STARTTLS not supported\r\n".encode())
                elif command.upper() == "CAPABILITY":
                    sock.sendall(b"* CAPABILITY IMAP4rev1 AUTH=EXTERNAL\r\n"
                                 + f"{tag} OK CAPABILITY completed\r\n".encode())
                else:
                    sock.sendall(f"{tag} BAD unknown command\r\n".encode())
        except OSError as exc:  # ssl.SSLError included: a refused client is expected
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            sock.close()
            conn.close()


@dataclass
class RecordingChannel:
    """An alert channel that keeps what it is given (a real object, not a mock)."""

    name: str = "record"
    per_recipient: bool = True
    sent: list[Message] = field(default_factory=list)

    def send(self, message: Message) -> DeliveryResult:
        self.sent.append(message)
        return DeliveryResult(channel=self.name, accepted=message.recipients)


class _Handler:
    """aiosmtpd accepts any message; the probe never sends one."""


@dataclass
class SmtpServer:
    host: str
    port: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd servers: `start(tls_context=..., require_starttls=...)`."""
    controllers: list[Controller] = []

    def start(**kwargs: Any) -> SmtpServer:
        port = free_port()
        controller = Controller(_Handler(), hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return SmtpServer("127.0.0.1", port)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that completes TCP connections (kernel backlog) and never says a word."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as listener:
        yield int(listener.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    return free_port()
