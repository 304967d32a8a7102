"""Probes in the inventory: each mailbox's endpoint, its probe results, and when it is due.

    report = probe_mailbox(store=store, settings=settings, address=a, at=now, timeout=10.0,
                           passphrase=secret)
    record_probe(store=store, address=a, report=report)
    last_probe(store=store, address=a)   # ProbeRecordView | None

- The endpoint is `Mailbox.endpoint_host` plus a `MailboxEndpoint` row (port and STARTTLS
  mode); a host without that row is probed on SMTP submission, port 587 with STARTTLS.
- `probe_mailbox` presents the mailbox's current certificate, its chain (from the CA store)
  and its key held here, in mutual TLS. One-line errors: unknown mailbox and no current
  certificate (NotFoundError), no key held here (InputError), missing or wrong passphrase
  (PassphraseError). `client="optional"` (the scheduled job) probes without a client
  certificate instead of failing when the key, or any passphrase, is not available (a
  passphrase given that does not open the key is still a PassphraseError).
- Schedule: `probe_slot(address)` is a stable offset within the UTC day derived from the
  SHA-256 of the address, so that daily probes spread over 24 h; `is_due` says whether a
  mailbox's slot falls in the hour being run, or its last probe is older than 25 h (a
  missed slot is caught up at the next run). All pure.
- A probe is `ok` when its status is OK or WARNING. `failing_streaks` gives, for each
  mailbox whose latest probe fails, the first failure since its last success: that row is
  the alert's identity, so one transition is told once however long it lasts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cryptography import x509
from sqlmodel import col, select

from certmgr.errors import InputError, NotFoundError, PassphraseError
from certmgr.fetch.probe import ClientCredentials, ProbeTarget, StartTls
from certmgr.pki.findings import Severity
from certmgr.pki.validate import RevocationMode
from certmgr.services.export import current_certificate, held_key, issuer_chain, load_held_key
from certmgr.services.mailboxes import normalize_address
from certmgr.services.nagios import NagiosStatus
from certmgr.services.probe import ProbeReport, by_significance, probe_endpoint
from certmgr.services.trustctx import TrustMaterial, load_trust_material
from certmgr.store.audit import append_event
from certmgr.store.models import Mailbox
from certmgr.store.models_probes import MailboxEndpoint, ProbeResult

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from sqlmodel.sql.expression import SelectOfScalar

    from certmgr.config import Settings
    from certmgr.secrets import Secret
    from certmgr.store.session import Store

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_STARTTLS",
    "FailingStreak",
    "ProbeRecordView",
    "endpoint_of",
    "failing_streaks",
    "is_due",
    "last_probe",
    "mailbox_credentials",
    "mailbox_endpoint",
    "probe_mailbox",
    "probe_slot",
    "record_probe",
    "set_endpoint",
    "store_trust",
]

DEFAULT_STARTTLS = StartTls.SMTP
DEFAULT_PORT = 587
_DAY = 86_400
_STALE = dt.timedelta(hours=25)
PassphraseSource = Callable[[], "Secret"]


@dataclass(frozen=True, slots=True)
class ProbeRecordView:
    """A stored probe, for the TUI and `certmgr probe --last`. `server_days_left` counts
    from the probe's `at` (what was true then), not from now."""

    at: dt.datetime
    ok: bool
    status: str
    tls_version: str | None
    cipher: str | None
    server_days_left: int | None
    client_outcome: str | None
    codes: tuple[str, ...]
    error: str | None
    endpoint: str = ""


@dataclass(frozen=True, slots=True)
class FailingStreak:
    """A mailbox whose latest probe fails, and the first failure since its last success."""

    address: str
    endpoint: str
    since: dt.datetime
    latest: ProbeRecordView


# ------------------------------------------------------------------ schedule: pure


def probe_slot(address: str) -> dt.timedelta:
    """A stable offset within the day (0 to 24 h, to the second) for `address`."""
    digest = hashlib.sha256(address.strip().lower().encode("utf-8")).digest()
    return dt.timedelta(seconds=int.from_bytes(digest[:8], "big") % _DAY)


def is_due(address: str, *, now: dt.datetime, last_at: dt.datetime | None,
           period: dt.timedelta = dt.timedelta(hours=1)) -> bool:
    """True when the slot of `address` falls in [now, now + period) (UTC day), or when its
    last probe is older than 25 h (a slot missed while the service was down)."""
    if last_at is not None and now - last_at > _STALE:
        return True
    utc = now.astimezone(dt.UTC)
    midnight = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    offset = (utc - midnight).total_seconds()
    slot = probe_slot(address).total_seconds()
    end = offset + period.total_seconds()
    return offset <= slot < end or offset <= slot + _DAY < end  # a window past midnight


# ------------------------------------------------------------------ endpoint


def _mailbox(session: Session, address: str) -> Mailbox:
    wanted = normalize_address(address)
    mailbox = session.scalars(select(Mailbox).where(col(Mailbox.address) == wanted)).first()
    if mailbox is None:
        raise NotFoundError(f"no mailbox {wanted}")
    return mailbox


def endpoint_of(session: Session, mailbox: Mailbox) -> ProbeTarget | None:
    """The mailbox's endpoint, or None when it has no `endpoint_host`."""
    if not mailbox.endpoint_host:
        return None
    row = session.get(MailboxEndpoint, mailbox.id)
    if row is None:
        return ProbeTarget(mailbox.endpoint_host, DEFAULT_PORT, DEFAULT_STARTTLS)
    return ProbeTarget(mailbox.endpoint_host, row.port, StartTls(row.starttls))


def mailbox_endpoint(*, store: Store, address: str) -> ProbeTarget | None:
    """The stored endpoint of the mailbox (NotFoundError for an unknown mailbox)."""
    with store.sessions() as session:
        return endpoint_of(session, _mailbox(session, address))


def set_endpoint(*, store: Store, address: str, target: ProbeTarget, at: dt.datetime,
                 actor: str) -> None:
    """Remember `target` as the mailbox's endpoint (audited `mailbox.endpoint`)."""
    with store.transaction() as session:
        mailbox = _mailbox(session, address)
        assert mailbox.id is not None
        row = session.get(MailboxEndpoint, mailbox.id) or MailboxEndpoint(
            mailbox_id=mailbox.id, port=target.port, starttls=str(target.starttls))
        row.port, row.starttls = target.port, str(target.starttls)
        mailbox.endpoint_host, mailbox.updated_at = target.host, at
        session.add_all([mailbox, row])
        append_event(session, actor=actor, action="mailbox.endpoint", at=at,
                     object_type="mailbox", object_id=mailbox.address,
                     details={"host": target.host, "port": target.port,
                              "starttls": str(target.starttls)})


# ------------------------------------------------------------------ credentials


def mailbox_credentials(*, store: Store, settings: Settings, address: str,
                        passphrase: PassphraseSource) -> ClientCredentials:
    """The mailbox's current certificate, its CA chain (without the root: what a TLS client
    sends) and its key held here.

    `passphrase` is called only when the key file is encrypted (see the module docstring
    for the errors)."""
    with store.sessions() as session:
        mailbox, cert = current_certificate(session, address)
        key = held_key(session, cert)
        if key is None:
            raise InputError(f"mailbox {mailbox.address}: the private key of its current "
                             "certificate is not held here (certmgr holds only the keys of "
                             "CSRs it made); use --cert/--key")
        chain = issuer_chain(session, cert, include_root=False)
        leaf = x509.load_der_x509_certificate(cert.der)
    secret = passphrase().reveal() if key.encrypted else None
    private = load_held_key(settings, key, passphrase=secret)
    return ClientCredentials(certificate=leaf, key=private, chain=tuple(chain))


# ------------------------------------------------------------------ probe and record


def store_trust(store: Store) -> TrustMaterial:
    """The store's anchors, intermediates and current CRLs; InputError without an anchor."""
    with store.sessions() as session:
        material = load_trust_material(session=session)
    if not material.anchors:
        raise InputError("the store holds no trust anchor: run `certmgr trust import`")
    return material


def probe_mailbox(*, store: Store, settings: Settings, address: str, at: dt.datetime,
                  timeout: float, passphrase: PassphraseSource | None,
                  target: ProbeTarget | None = None, trust: TrustMaterial | None = None,
                  client: Literal["required", "optional"] = "required",
                  warn_days: int = 30) -> ProbeReport:
    """Probe the mailbox's endpoint (or `target`) presenting its certificate and key.

    InputError when the mailbox has no endpoint and no `target` is given."""
    with store.sessions() as session:
        mailbox = _mailbox(session, address)
        target = target or endpoint_of(session, mailbox)
        name = mailbox.address
    if target is None:
        raise InputError(f"mailbox {name} has no endpoint: give HOST[:PORT] "
                         "(`certmgr probe HOST:PORT --mailbox ADDRESS --record` remembers it)")
    credentials: ClientCredentials | None = None
    try:
        credentials = mailbox_credentials(store=store, settings=settings, address=name,
                                          passphrase=passphrase or _no_passphrase)
    except PassphraseError:
        if client == "required" or passphrase is not None:
            raise  # a passphrase that does not open the key is a mistake to tell, not skip
    except (InputError, NotFoundError):
        if client == "required":
            raise
    material = trust or store_trust(store)
    revocation = RevocationMode.SOFT_FAIL if material.crls else RevocationMode.OFF
    return probe_endpoint(target=target, trust=material, at=at, timeout=timeout,
                          client=credentials, revocation=revocation, warn_days=warn_days)


def _no_passphrase() -> Secret:
    raise PassphraseError("the mailbox key is encrypted and no passphrase was given "
                          "(--passphrase-file or CERTMGR_PASSPHRASE)")


def record_probe(*, store: Store, address: str, report: ProbeReport) -> ProbeRecordView:
    """Store `report` as the mailbox's latest probe."""
    obs, server = report.observation, report.server_certificate
    ok = report.status in {NagiosStatus.OK, NagiosStatus.WARNING}
    serious = by_significance([f for f in report.findings if f.severity >= Severity.WARNING])
    worst = serious[0] if serious else None
    with store.transaction() as session:
        mailbox = _mailbox(session, address)
        assert mailbox.id is not None
        row = ProbeResult(
            mailbox_id=mailbox.id, at=report.at, host=obs.target.host, port=obs.target.port,
            starttls=str(obs.target.starttls), ok=ok, status=report.status.name,
            tls_version=obs.protocol, cipher=obs.cipher,
            server_not_after=None if server is None else server.not_after,
            server_fingerprint=None if server is None else server.fingerprint_sha256,
            client_outcome=None if report.client is None else str(report.client),
            codes=list(dict.fromkeys(str(f.code) for f in serious)),  # most significant first
            error=None if ok or worst is None else f"{worst.code}: {worst.message}")
        session.add(row)
        session.flush()
        return _view(row)


def last_probe(*, store: Store, address: str) -> ProbeRecordView | None:
    """The mailbox's latest stored probe, or None (NotFoundError for an unknown mailbox)."""
    with store.sessions() as session:
        mailbox = _mailbox(session, address)
        row = session.scalars(select(ProbeResult).where(
            col(ProbeResult.mailbox_id) == mailbox.id).order_by(
            col(ProbeResult.at).desc(), col(ProbeResult.id).desc()).limit(1)).first()
        return None if row is None else _view(row)


def failing_streaks(session: Session) -> list[FailingStreak]:
    """Active mailboxes whose latest probe fails, with the start of the failure."""
    out: list[FailingStreak] = []
    mailboxes = session.scalars(select(Mailbox).where(
        col(Mailbox.archived).is_(False)).order_by(col(Mailbox.address)))
    for mailbox in mailboxes:
        latest = session.scalars(_history(mailbox).order_by(
            col(ProbeResult.at).desc(), col(ProbeResult.id).desc()).limit(1)).first()
        if latest is None or latest.ok:
            continue
        last_ok = session.scalars(_history(mailbox).where(col(ProbeResult.ok).is_(True))
                                  .order_by(col(ProbeResult.at).desc()).limit(1)).first()
        first = _history(mailbox).where(col(ProbeResult.ok).is_(False))
        if last_ok is not None:
            first = first.where(col(ProbeResult.at) > last_ok.at)
        since = session.scalars(first.order_by(col(ProbeResult.at), col(ProbeResult.id))
                                .limit(1)).first() or latest
        out.append(FailingStreak(address=mailbox.address, endpoint=_endpoint_text(latest),
                                 since=since.at, latest=_view(latest)))
    return out


def _history(mailbox: Mailbox) -> SelectOfScalar[ProbeResult]:
    return select(ProbeResult).where(col(ProbeResult.mailbox_id) == mailbox.id)


def _endpoint_text(row: ProbeResult) -> str:
    return str(ProbeTarget(row.host, row.port, StartTls(row.starttls)))


def _view(row: ProbeResult) -> ProbeRecordView:
    days = None if row.server_not_after is None else (row.server_not_after - row.at).days
    return ProbeRecordView(at=row.at, ok=row.ok, status=row.status, tls_version=row.tls_version,
                           cipher=row.cipher, server_days_left=days,
                           client_outcome=row.client_outcome, codes=tuple(row.codes),
                           error=row.error, endpoint=_endpoint_text(row))
