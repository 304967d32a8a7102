"""The e-mail channel: SMTP with STARTTLS or implicit TLS, authentication, client certificate.

`SmtpChannel(settings, now=clock.now).send(message)` opens one connection per
message, says EHLO, upgrades to TLS (`security`: "starttls", the default, on
port 587; "tls", implicit TLS, on port 465; "none" only for a local relay),
authenticates when a user is set, and sends a UTF-8 `EmailMessage`: the text,
plus an HTML alternative when the message has one. Headers: From, To, Subject,
Date (from `now`), Message-ID, Reply-To when set, `Auto-Submitted: auto-generated`,
`X-Certmgr-Alert: <dedup_key>`, and the message's extra headers.

TLS verifies the server's certificate and host name against `ca_file` (the
system store when None). `client_cert`/`client_key` present a client
certificate: an operator can send through its MSSanté relay with its mailbox
certificate. The password comes from `read_smtp_password` (a file with no
group/other access, or `CERTMGR_SMTP_PASSWORD`), never from the command line;
it is held as a `Secret` and appears in no message or log. Sending credentials
without TLS is refused when the settings are built.

Failures (connection, TLS, authentication, every recipient refused) raise
`DeliveryError` (a `FetchError`) naming the server and the reason. Recipients refused while others
are accepted are reported in `DeliveryResult.refused`.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from certmgr.channels.base import DeliveryResult, Message
from certmgr.errors import ConfigError, DeliveryError
from certmgr.secrets import Secret, read_passphrase

__all__ = ["ENV_SMTP_PASSWORD", "SmtpChannel", "SmtpSecurity", "SmtpSettings",
           "read_smtp_password"]

ENV_SMTP_PASSWORD = "CERTMGR_SMTP_PASSWORD"  # noqa: S105 - a variable name, not a secret


class SmtpSecurity(enum.StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSettings:
    """Where and how to send. `sender` is the From address, `reply_to` where answers go."""

    host: str
    sender: str
    reply_to: str | None = None
    port: int | None = None  # None: 587 for starttls, 465 for tls, 25 for none
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: Secret | None = None
    client_cert: Path | None = None  # PEM certificate (chain), for mutual TLS
    client_key: Path | None = None  # PEM key; None: in client_cert
    client_key_password: Secret | None = None
    ca_file: Path | None = None  # None: the system trust store
    timeout: float = 30.0
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "security", SmtpSecurity(self.security))
        for label, value in (("sender", self.sender), ("reply_to", self.reply_to or "-")):
            if not value.strip() or "\r" in value or "\n" in value:
                raise ConfigError(f"smtp: {label} must be one non-empty line")
        if self.security is SmtpSecurity.NONE and (self.username or self.client_cert):
            raise ConfigError("smtp: authentication or a client certificate needs "
                              "security = starttls or tls (the password would go in clear)")
        if (self.username is None) != (self.password is None):
            raise ConfigError("smtp: set both the user name and the password, or neither")
        if self.client_key is not None and self.client_cert is None:
            raise ConfigError("smtp: client_key given without client_cert")
        if self.timeout <= 0:
            raise ConfigError("smtp: timeout must be positive")

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465, SmtpSecurity.NONE: 25}[
            self.security]


def read_smtp_password(*, env: Mapping[str, str], password_file: Path | None) -> Secret:
    """The SMTP password: `password_file`'s first line (mode 0600 or stricter), else
    `CERTMGR_SMTP_PASSWORD`. Raises PassphraseError (an InputError) when neither is usable."""
    if password_file is None and ENV_SMTP_PASSWORD in env:
        value = env[ENV_SMTP_PASSWORD]
        if not value:
            raise ConfigError(f"{ENV_SMTP_PASSWORD} is set but empty")
        return Secret(value.encode("utf-8"))
    if password_file is None:
        raise ConfigError(f"smtp: a password is needed: set {ENV_SMTP_PASSWORD} or "
                          "password_file")
    # The same rules as key passphrase files: regular file, no group/other access.
    return read_passphrase(env={}, passphrase_file=password_file, prompt=None, confirm=False)


class SmtpChannel:
    """Sends each message as one e-mail through one SMTP server."""

    def __init__(self, settings: SmtpSettings, *, now: Callable[[], dt.datetime],
                 name: str = "email") -> None:
        self.settings = settings
        self._now = now
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def build(self, message: Message) -> EmailMessage:
        """The e-mail for `message` (exposed so that tests and `--dry-run` can show it)."""
        mail = EmailMessage()
        mail["From"] = self.settings.sender
        if self.settings.reply_to is not None:
            mail["Reply-To"] = self.settings.reply_to
        mail["To"] = ", ".join(message.recipients)
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(self._now().astimezone(dt.UTC))
        mail["Message-ID"] = make_msgid(domain=_domain(self.settings.sender))
        mail["X-Certmgr-Alert"] = message.dedup_key
        # RFC 3834: out-of-office and other robots must not answer an alert.
        mail["Auto-Submitted"] = "auto-generated"
        for name, value in message.headers.items():
            mail[name] = value
        mail.set_content(message.text, charset="utf-8")
        if message.html is not None:
            mail.add_alternative(message.html, subtype="html", charset="utf-8")
        return mail

    def send(self, message: Message) -> DeliveryResult:
        mail = self.build(message)
        where = f"smtp {self.settings.host}:{self.settings.effective_port}"
        try:
            with self._connect() as client:
                refused = client.send_message(mail, from_addr=self.settings.sender,
                                              to_addrs=list(message.recipients))
        except smtplib.SMTPRecipientsRefused as exc:
            reasons = "; ".join(f"{r}: {_reply(v)}" for r, v in exc.recipients.items())
            raise DeliveryError(f"{where}: every recipient was refused ({reasons})") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"{where}: authentication failed: {_reply(exc)}") from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{where}: {_reply(exc)}") from None
        except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError and timeouts included
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from None
        failed = {r: _reply(v) for r, v in refused.items()}
        return DeliveryResult(channel=self.name,
                              accepted=tuple(r for r in message.recipients if r not in failed),
                              refused=failed, message_id=str(mail["Message-ID"]))

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        port = s.effective_port
        client: smtplib.SMTP
        if s.security is SmtpSecurity.TLS:
            client = smtplib.SMTP_SSL(s.host, port, local_hostname=s.local_hostname,
                                      timeout=s.timeout, context=self._tls_context())
        else:
            client = smtplib.SMTP(s.host, port, local_hostname=s.local_hostname,
                                  timeout=s.timeout)
        try:
            client.ehlo()
            if s.security is SmtpSecurity.STARTTLS:
                # starttls() raises SMTPNotSupportedError when the server does not offer it:
                # never fall back to clear text.
                client.starttls(context=self._tls_context())
                client.ehlo()
            if s.username is not None and s.password is not None:
                _login(client, s.username, s.password)
        except BaseException:
            client.close()
            raise
        return client

    def _tls_context(self) -> ssl.SSLContext:
        s = self.settings
        context = ssl.create_default_context(
            cafile=None if s.ca_file is None else str(s.ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if s.client_cert is not None:
            password = None if s.client_key_password is None else s.client_key_password.reveal()
            try:
                context.load_cert_chain(str(s.client_cert),
                                        None if s.client_key is None else str(s.client_key),
                                        password=password)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"smtp: cannot load the client certificate or key: "
                                  f"{type(exc).__name__}", source=s.client_cert) from None
        return context


def _login(client: smtplib.SMTP, username: str, password: Secret) -> None:
    """Authenticate; a non-ASCII user or password goes as UTF-8 AUTH PLAIN (RFC 4616).

    smtplib's `login` encodes credentials as ASCII only, which fails on a
    password such as "Pässword" before anything is sent.
    """
    secret = password.reveal()
    if username.isascii() and secret.isascii():
        client.login(username, secret.decode("ascii"))
        return
    if "plain" not in client.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPException("a non-ASCII user name or password needs AUTH PLAIN, "
                                    "which the server does not offer")
    token = base64.b64encode(b"\0" + username.encode("utf-8") + b"\0" + secret).decode("ascii")
    code, reply = client.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _domain(sender: str) -> str | None:
    try:
        return Address(addr_spec=sender).domain or None
    except (ValueError, IndexError):
        return None


def _reply(value: object) -> str:
    """An SMTP reply (code, bytes) or exception as one printable line."""
    code: object
    text: object
    if isinstance(value, smtplib.SMTPResponseException):
        code, text = value.smtp_code, value.smtp_error
    elif isinstance(value, tuple) and len(value) == 2:
        code, text = value
    else:
        return " ".join(str(value).split())
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(f"{code} {text}".split())
