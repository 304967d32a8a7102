"""Alert events: what happened, as a value that templates and channels render.

An `AlertEvent` is built by the alert engine (or a job) and carries every fact a
message needs: the mailbox, its structure, the certificate, the days left, the
findings, the CRL or job concerned. Which fields are required depends on the
`kind` (checked when the event is built):

    EXPIRY_THRESHOLD  mailbox, serial, not_after, threshold_days, days_left
    EXPIRED           mailbox, serial, not_after
    REVOKED           mailbox, serial
    CHAIN_INVALID     mailbox, serial, at least one finding
    CRL_STALE         crl_issuer
    ORDER_PENDING     mailbox, order_ref
    PROBE_FAILED      mailbox, endpoint, probe_status, at least one finding
    JOB_FAILED        job_name, job_error
    TEST              nothing

`dedup_key` is stable: the same fact (this certificate crossed this threshold,
this CRL became stale at this nextUpdate, this mailbox's probes of this endpoint
have been failing since this instant) always gives the same key, so that a
channel header and the database can recognise a repeat.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from dataclasses import dataclass

__all__ = ["AlertEvent", "AlertFinding", "AlertKind"]


class AlertKind(enum.StrEnum):
    """What an alert is about. Values are stable (stored and sent in webhooks)."""

    EXPIRY_THRESHOLD = "expiry_threshold"
    EXPIRED = "expired"
    REVOKED = "revoked"
    CHAIN_INVALID = "chain_invalid"
    CRL_STALE = "crl_stale"
    ORDER_PENDING = "order_pending"
    PROBE_FAILED = "probe_failed"
    JOB_FAILED = "job_failed"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class AlertFinding:
    """A finding as shown in a message: its stable code and its sentence."""

    code: str
    message: str


_REQUIRED: dict[AlertKind, tuple[str, ...]] = {
    AlertKind.EXPIRY_THRESHOLD: ("mailbox", "serial", "not_after", "threshold_days",
                                 "days_left"),
    AlertKind.EXPIRED: ("mailbox", "serial", "not_after"),
    AlertKind.REVOKED: ("mailbox", "serial"),
    AlertKind.CHAIN_INVALID: ("mailbox", "serial"),
    AlertKind.CRL_STALE: ("crl_issuer",),
    AlertKind.ORDER_PENDING: ("mailbox", "order_ref"),
    AlertKind.PROBE_FAILED: ("mailbox", "endpoint", "probe_status"),
    AlertKind.JOB_FAILED: ("job_name", "job_error"),
    AlertKind.TEST: (),
}
_NEEDS_FINDINGS = frozenset({AlertKind.CHAIN_INVALID, AlertKind.PROBE_FAILED})


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEvent:
    """One thing to tell operators. All datetimes are aware; they are stored in UTC."""

    kind: AlertKind
    at: dt.datetime  # when noticed; for PROBE_FAILED and JOB_FAILED, when the failure began
    mailbox: str | None = None  # the applicative mailbox address
    structure_name: str | None = None
    structure_idnat: str | None = None
    serial: str | None = None  # hexadecimal, as certmgr shows it
    fingerprint: str | None = None  # SHA-256, hexadecimal
    not_after: dt.datetime | None = None
    issuer: str | None = None  # the issuing CA's common name
    threshold_days: int | None = None
    days_left: int | None = None  # negative once expired
    findings: tuple[AlertFinding, ...] = ()
    crl_issuer: str | None = None
    crl_next_update: dt.datetime | None = None
    order_ref: str | None = None
    pending_days: int | None = None
    endpoint: str | None = None  # HOST:PORT of the probed server
    probe_status: str | None = None  # the failing probe's Nagios status (CRITICAL, UNKNOWN)
    job_name: str | None = None
    job_error: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", AlertKind(self.kind))
        for name in ("at", "not_after", "crl_next_update"):
            value = getattr(self, name)
            if value is None:
                continue
            if value.tzinfo is None:
                raise ValueError(f"AlertEvent.{name} must be an aware datetime")
            object.__setattr__(self, name, value.astimezone(dt.UTC))
        missing = [name for name in _REQUIRED[self.kind] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} alert needs {', '.join(missing)}")
        if self.kind in _NEEDS_FINDINGS and not self.findings:
            raise ValueError(f"a {self.kind} alert needs at least one finding")
        object.__setattr__(self, "findings", tuple(self.findings))

    @property
    def subject_id(self) -> str:
        """What the alert is about: the certificate, the CRL issuer, the order or the job."""
        return (self.fingerprint or self.serial or self.crl_issuer or self.order_ref
                or self.job_name or self.mailbox or "-")

    @property
    def dedup_key(self) -> str:
        """A stable key for this fact: `<kind>-<24 hex digits>` (safe in a mail header)."""
        parts: tuple[object, ...]
        match self.kind:
            case AlertKind.EXPIRY_THRESHOLD:
                parts = (self.subject_id, self.threshold_days)
            case AlertKind.EXPIRED | AlertKind.REVOKED:
                parts = (self.subject_id,)
            case AlertKind.CHAIN_INVALID:
                parts = (self.subject_id, *sorted({f.code for f in self.findings}))
            case AlertKind.CRL_STALE:
                parts = (self.crl_issuer, _iso(self.crl_next_update))
            case AlertKind.ORDER_PENDING:
                parts = (self.mailbox, self.order_ref)
            case AlertKind.PROBE_FAILED:  # `at` is the first failure of the streak
                parts = (self.mailbox, self.endpoint, _iso(self.at))
            case AlertKind.JOB_FAILED | AlertKind.TEST:
                parts = (self.job_name, _iso(self.at))
        canonical = "\x1f".join([self.kind.value, *("" if p is None else str(p) for p in parts)])
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]
        return f"{self.kind.value}-{digest}"

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (webhook payloads, `alerts list --json`)."""
        return {
            "kind": self.kind.value,
            "dedup_key": self.dedup_key,
            "at": _iso(self.at),
            "mailbox": self.mailbox,
            "structure": {"name": self.structure_name, "idnat": self.structure_idnat},
            "certificate": {
                "serial": self.serial,
                "fingerprint": self.fingerprint,
                "not_after": _iso(self.not_after),
                "issuer": self.issuer,
            },
            "threshold_days": self.threshold_days,
            "days_left": self.days_left,
            "findings": [{"code": f.code, "message": f.message} for f in self.findings],
            "crl": {"issuer": self.crl_issuer, "next_update": _iso(self.crl_next_update)},
            "order": {"ref": self.order_ref, "pending_days": self.pending_days},
            "probe": {"endpoint": self.endpoint, "status": self.probe_status},
            "job": {"name": self.job_name, "error": self.job_error},
        }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
