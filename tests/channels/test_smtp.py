"""The SMTP channel against a real aiosmtpd server on loopback (STARTTLS, TLS, AUTH, mTLS)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from certmgr.channels import Message, SmtpChannel, SmtpSecurity, SmtpSettings, read_smtp_password
from certmgr.clock import FixedClock
from certmgr.errors import ConfigError, FetchError, PassphraseError
from certmgr.secrets import Secret
from certmgr.services.alert_events import AlertEvent, AlertKind
from certmgr.services.messages import render

from ._tlspki import TlsFiles
from .conftest import PASSWORD, USER, SmtpServer

T0 = dt.datetime(2026, 3, 1, 7, 30, tzinfo=dt.UTC)
MAILBOX = "bal.appli@hopital-eloi.mssante.fr"


def _event() -> AlertEvent:
    return AlertEvent(kind=AlertKind.EXPIRY_THRESHOLD, at=T0, mailbox=MAILBOX,
                      structure_name="Hôpital Saint-Éloi", structure_idnat="10B0123456",
                      serial="1A2B3C", not_after=T0 + dt.timedelta(days=14),
                      issuer="TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
                      threshold_days=14, days_left=14)


def _message(*recipients: str) -> Message:
    event = _event()
    rendered = render(event, lang="fr")
    return Message(recipients=recipients or ("admin@hopital-eloi.fr",), subject=rendered.subject,
                   text=rendered.text, html=rendered.html, dedup_key=event.dedup_key,
                   headers={"X-Certmgr-Mailbox": MAILBOX})


def _settings(server: SmtpServer, **changes: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": server.host, "port": server.port, "sender": "certmgr@hopital-eloi.fr",
        "ca_file": server.tls.ca, "timeout": 5.0,
    }
    values.update(changes)
    return SmtpSettings(**values)  # type: ignore[arg-type]


def _channel(settings: SmtpSettings) -> SmtpChannel:
    return SmtpChannel(settings, now=FixedClock(T0).now)


def _auth() -> dict[str, object]:
    return {"username": USER, "password": Secret(PASSWORD.encode())}


class TestStartTls:
    """STARTTLS + AUTH: the server reads a UTF-8 French message with our headers."""

    def test_delivers_utf8_text_and_html(self, starttls_server: SmtpServer) -> None:
        message = _message()
        settings = _settings(starttls_server, reply_to="pki-team@hopital-eloi.fr", **_auth())
        result = _channel(settings).send(message)

        [got] = starttls_server.handler.received
        mail = got.message
        assert got.login == USER.encode()
        assert got.rcpt_tos == ["admin@hopital-eloi.fr"]
        assert mail["Subject"] == message.subject
        assert "expire dans 14 jours" in mail["Subject"]
        assert mail["X-Certmgr-Alert"] == message.dedup_key
        assert mail["X-Certmgr-Mailbox"] == MAILBOX
        assert mail["From"] == "certmgr@hopital-eloi.fr"
        assert mail["Reply-To"] == "pki-team@hopital-eloi.fr"
        assert mail["Auto-Submitted"] == "auto-generated"
        assert mail["Date"].datetime == T0
        assert mail["Message-ID"] == result.message_id
        assert result.message_id is not None
        assert result.message_id.endswith("@hopital-eloi.fr>")
        text = mail.get_body(("plain",))
        html = mail.get_body(("html",))
        assert text is not None
        assert html is not None
        body = text.get_content()
        assert "Hôpital Saint-Éloi (10B0123456)" in body
        assert "« Demander »" in body
        assert f"certmgr csr new {MAILBOX}" in body
        assert "Émetteur" in html.get_content()
        assert result.accepted == ("admin@hopital-eloi.fr",)
        assert result.refused == {}

    def test_text_only_message_is_not_multipart(self, starttls_server: SmtpServer) -> None:
        message = Message(recipients=("a@b.fr",), subject="Test é", text="Corps à lire\n",
                          dedup_key="test-1")
        _channel(_settings(starttls_server, **_auth())).send(message)
        [got] = starttls_server.handler.received
        assert not got.message.is_multipart()
        assert got.message.get_content().replace("\r\n", "\n") == "Corps à lire\n"

    def test_wrong_password_is_a_fetch_error_without_the_password(
            self, starttls_server: SmtpServer) -> None:
        settings = _settings(starttls_server, username=USER,
                             password=Secret(b"not-the-password"))
        with pytest.raises(FetchError, match="authentication failed") as info:
            _channel(settings).send(_message())
        assert "not-the-password" not in str(info.value)
        assert starttls_server.handler.received == []

    def test_partly_refused_recipients_are_reported(self, starttls_server: SmtpServer) -> None:
        starttls_server.handler.refuse.add("nobody@b.fr")
        result = _channel(_settings(starttls_server, **_auth())).send(
            _message("a@b.fr", "nobody@b.fr"))
        assert result.accepted == ("a@b.fr",)
        assert set(result.refused) == {"nobody@b.fr"}
        assert "550" in result.refused["nobody@b.fr"]

    def test_all_recipients_refused_is_a_fetch_error(self, starttls_server: SmtpServer) -> None:
        starttls_server.handler.refuse.add("nobody@b.fr")
        with pytest.raises(FetchError, match="every recipient was refused"):
            _channel(_settings(starttls_server, **_auth())).send(_message("nobody@b.fr"))

    def test_untrusted_server_certificate_is_refused(self, starttls_server: SmtpServer,
                                                     other_tls_files: TlsFiles) -> None:
        settings = _settings(starttls_server, ca_file=other_tls_files.ca, **_auth())
        with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
            _channel(settings).send(_message())
        assert starttls_server.handler.received == []

    def test_no_starttls_offered_never_falls_back_to_clear_text(
            self, plain_server: SmtpServer) -> None:
        with pytest.raises(FetchError, match="STARTTLS"):
            _channel(_settings(plain_server)).send(_message())
        assert plain_server.handler.received == []


class TestImplicitTls:
    def test_delivers(self, implicit_tls_server: SmtpServer) -> None:
        settings = _settings(implicit_tls_server, security="tls", **_auth())
        assert settings.security is SmtpSecurity.TLS
        _channel(settings).send(_message())
        [got] = implicit_tls_server.handler.received
        assert got.login == USER.encode()
        assert got.peercert is None  # no client certificate was asked for


class TestClientCertificate:
    """The relay requires a client certificate (an MSSanté relay and a mailbox certificate)."""

    def test_presented_and_checked_by_the_server(self, client_cert_server: SmtpServer,
                                                 tls_files: TlsFiles) -> None:
        settings = _settings(client_cert_server, client_cert=tls_files.client_cert,
                             client_key=tls_files.client_key)
        _channel(settings).send(_message())
        [got] = client_cert_server.handler.received
        assert got.peercert is not None
        subject = dict(item[0] for item in got.peercert["subject"])
        assert subject["commonName"] == "bal.appli@hopital.mssante.fr"

    def test_without_it_the_handshake_fails(self, client_cert_server: SmtpServer) -> None:
        with pytest.raises(FetchError):
            _channel(_settings(client_cert_server)).send(_message())
        assert client_cert_server.handler.received == []

    def test_unreadable_key_is_a_config_error(self, client_cert_server: SmtpServer,
                                              tls_files: TlsFiles, tmp_path: Path) -> None:
        settings = _settings(client_cert_server, client_cert=tls_files.client_cert,
                             client_key=tmp_path / "missing.pem")
        with pytest.raises(ConfigError, match="client certificate"):
            _channel(settings).send(_message())


class TestSettings:
    def test_credentials_without_tls_are_refused(self) -> None:
        with pytest.raises(ConfigError, match="in clear"):
            SmtpSettings(host="relay", sender="a@b.fr", security=SmtpSecurity.NONE,
                         username="u", password=Secret(b"p"))

    @pytest.mark.parametrize("field", ["sender", "reply_to"])
    def test_header_values_are_one_line(self, field: str) -> None:
        values: dict[str, object] = {"host": "relay", "sender": "a@b.fr",
                                     field: "a@b.fr\r\nBcc: x@y.fr"}
        with pytest.raises(ConfigError, match="one non-empty line"):
            SmtpSettings(**values)  # type: ignore[arg-type]

    def test_user_without_password_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="both"):
            SmtpSettings(host="relay", sender="a@b.fr", username="u")

    @pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("tls", 465),
                                                    ("none", 25)])
    def test_default_ports(self, security: str, port: int) -> None:
        settings = SmtpSettings(host="relay", sender="a@b.fr",
                                security=SmtpSecurity(security))
        assert settings.effective_port == port

    def test_password_is_masked_in_repr(self) -> None:
        settings = SmtpSettings(host="relay", sender="a@b.fr", username="u",
                                password=Secret(b"hunter2"))
        assert "hunter2" not in repr(settings)


class TestPassword:
    def test_from_env(self) -> None:
        secret = read_smtp_password(env={"CERTMGR_SMTP_PASSWORD": "pw"}, password_file=None)
        assert secret.reveal() == b"pw"

    def test_file_wins_and_must_be_private(self, tmp_path: Path) -> None:
        path = tmp_path / "smtp-password"
        path.write_text("from-file\n", encoding="utf-8")
        path.chmod(0o600)
        env = {"CERTMGR_SMTP_PASSWORD": "from-env"}
        assert read_smtp_password(env=env, password_file=path).reveal() == b"from-file"
        path.chmod(0o644)
        with pytest.raises(PassphraseError, match="group and others"):
            read_smtp_password(env=env, password_file=path)

    def test_missing_everywhere(self) -> None:
        with pytest.raises(ConfigError, match="CERTMGR_SMTP_PASSWORD"):
            read_smtp_password(env={}, password_file=None)
