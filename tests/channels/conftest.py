"""Channel fixtures: a throwaway TLS PKI and a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support import free_port

from ._tlspki import TlsFiles, make_tls_files

USER = "relay-user"
PASSWORD = "s3cret-Pässword"


@dataclass
class Received:
    """One message the server accepted, with what the session knew about the client."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    peercert: dict[str, Any] | None
    login: bytes | None


@dataclass
class StoringHandler:
    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
            self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
            self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        extra = session.ssl or {}
        self.received.append(Received(
            mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), message=parsed,
            peercert=extra.get("peercert"),
            login=session.auth_data if session.authenticated else None))
        return "250 OK"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: StoringHandler
    tls: TlsFiles


def server_context(tls: TlsFiles, *, require_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.server_cert, tls.server_key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(tls.ca)
    return context


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def other_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls-other"), ca_name="some other CA")


def run_server(tls: TlsFiles, **kwargs: Any) -> Iterator[SmtpServer]:
    handler = StoringHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpServer(host="127.0.0.1", port=port, handler=handler, tls=tls)
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """STARTTLS required, AUTH LOGIN/PLAIN offered only after TLS."""
    yield from run_server(tls_files, tls_context=server_context(tls_files),
                          require_starttls=True, authenticator=authenticator,
                          auth_require_tls=True)


@pytest.fixture
def implicit_tls_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    # aiosmtpd only counts STARTTLS as TLS for `auth_require_tls`; here the whole
    # connection is TLS, so AUTH may be offered from the start.
    yield from run_server(tls_files, ssl_context=server_context(tls_files),
                          authenticator=authenticator, auth_require_tls=False)


@pytest.fixture
def client_cert_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """STARTTLS whose handshake requires a client certificate issued by the test CA."""
    yield from run_server(tls_files,
                          tls_context=server_context(tls_files, require_client_cert=True),
                          require_starttls=True)


@pytest.fixture
def plain_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """No TLS offered at all."""
    yield from run_server(tls_files)

