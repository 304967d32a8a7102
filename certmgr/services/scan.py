"""`certmgr scan`: re-validate the current certificate of every active mailbox and store
a status per mailbox (rules in `certmgr.services.status`).

Each certificate is checked for its path to a trust anchor of the store, revocation
(hard-fail, but a stale CRL is accepted with a CRL_STALE warning: MSSanté keeps the
last valid CRL when a fresh one cannot be had), the ORG_AUTH_CLI profile for the
mailbox's environment, and expiry, at the instant `at`.

Built for 10,000 mailboxes in a few seconds, in three phases that the report times:
load (one query: mailboxes, current bindings and certificate columns), validate
(one `Validator` per environment, `validate_many` over the DERs; the profile is
checked from the stored facts, so no certificate is parsed twice), write (one
transaction: one `ValidationRun`, the `ValidationResult` rows in one executemany, the
mailbox statuses in one bulk UPDATE by primary key, one audit event).

`revalidate_mailboxes` applies the same rules to a few mailboxes inside the caller's
transaction: a renewal's activation, an import that gave mailboxes a new current
certificate. The mailbox then shows its certificate's status at once, not at the next
scan; its run has its own trigger, so it never counts as "the last scan".

Environments: a mailbox of the production (test) environment is validated against
the production (test) trust material and its certificate must be a production
(test) one. Certificates of certmgr's own FIXTURE PKI (demo and tests; trusted only
when an operator imported the fixture CAs) stand in for either environment.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Text, and_, bindparam, cast, insert, select, update
from sqlmodel import col

from certmgr.errors import PKIError
from certmgr.pki.classify import Domain, Environment, Gamme, Product
from certmgr.pki.facts import CertFacts
from certmgr.pki.findings import Code, Finding, Severity
from certmgr.pki.idnat import try_parse_idnat
from certmgr.pki.profile import check_profile
from certmgr.pki.validate import (
    CrlInput,
    RevocationMode,
    ValidationContext,
    ValidationResult,
    Validator,
)
from certmgr.services.status import SCAN_TRIGGER, Thresholds, mailbox_status
from certmgr.store.audit import append_event
from certmgr.store.enums import BindingRole, MailboxEnvironment, MailboxStatus
from certmgr.store.models import Binding, Certificate, Mailbox, ValidationRun
from certmgr.store.models import ValidationResult as ResultRow

if TYPE_CHECKING:
    from cryptography import x509
    from sqlalchemy.orm import Session

    from certmgr.store.session import Store

__all__ = ["ACTIVATION_TRIGGER", "IMPORT_TRIGGER", "PROFILE", "MailboxScan", "ScanReport",
           "TrustLoader", "TrustMaterialLike", "revalidate_mailboxes", "scan"]

PROFILE = "ORG_AUTH_CLI"
ACTIVATION_TRIGGER = "activation"
"""`ValidationRun.trigger` of `revalidate_mailboxes` when a renewal becomes ACTIVE."""
IMPORT_TRIGGER = "import"
"""`ValidationRun.trigger` of `revalidate_mailboxes` after an import bound a new current
certificate."""
_CHUNK = 500  # addresses per IN (...) list
_REQUIRED_EKU = "clientAuth"
_PKI_ENV = {MailboxEnvironment.PRODUCTION: Environment.PRODUCTION,
            MailboxEnvironment.TEST: Environment.TEST}
_ATTENTION = frozenset({MailboxStatus.CRITICAL, MailboxStatus.EXPIRED, MailboxStatus.REVOKED,
                        MailboxStatus.INVALID})


class TrustMaterialLike(Protocol):
    """What `certmgr.services.trustctx.load_trust_material` returns."""

    @property
    def anchors(self) -> Sequence[x509.Certificate]: ...
    @property
    def intermediates(self) -> Sequence[x509.Certificate]: ...
    @property
    def crls(self) -> Sequence[CrlInput]: ...
    @property
    def trust_store_findings(self) -> Sequence[Finding]: ...


TrustLoader = Callable[..., TrustMaterialLike]
"""`loader(session=..., environment=Environment) -> TrustMaterialLike`."""


def _store_trust(*, session: Session, environment: Environment) -> TrustMaterialLike:
    from certmgr.services.trustctx import load_trust_material  # noqa: PLC0415 - sibling use case

    return load_trust_material(session=session, environment=environment)


@dataclass(frozen=True, slots=True)
class MailboxScan:
    """The outcome for one mailbox that needs attention (or all, in tests)."""

    address: str
    status: MailboxStatus
    days_left: int | None
    codes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "status": str(self.status),
                "days_left": self.days_left, "codes": list(self.codes)}


@dataclass(frozen=True, slots=True)
class ScanReport:
    at: dt.datetime
    checked_at: dt.datetime
    run_id: int
    counts: dict[MailboxStatus, int]
    certificates: int
    """Certificates validated (mailboxes with a current certificate)."""
    timings: dict[str, float]
    """Seconds spent in each phase: load, validate, write."""
    mailboxes: tuple[MailboxScan, ...]
    """Every scanned mailbox, by address."""
    trust_findings: tuple[Finding, ...] = ()

    @property
    def scanned(self) -> int:
        return sum(self.counts.values())

    @property
    def needs_attention(self) -> bool:
        """Some mailbox is CRITICAL, EXPIRED, REVOKED or INVALID (the CLI exits 1)."""
        return any(self.counts.get(s, 0) for s in _ATTENTION)

    def to_json(self, *, all_mailboxes: bool = False) -> dict[str, Any]:
        total = sum(self.timings.values()) or 1.0
        shown = [m for m in self.mailboxes if all_mailboxes or m.status is not MailboxStatus.OK]
        return {
            "at": self.at, "checked_at": self.checked_at, "run_id": self.run_id,
            "scanned": self.scanned, "certificates": self.certificates,
            "counts": {str(k): v for k, v in self.counts.items()},
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "shares": {k: round(v / total, 3) for k, v in self.timings.items()},
            "mailboxes": [m.to_json() for m in shown],
            "trust_findings": [f.to_json() for f in self.trust_findings],
        }


@dataclass(slots=True)
class _Target:
    mailbox_id: int
    address: str
    environment: MailboxEnvironment
    certificate_id: int | None
    der: bytes | None
    facts: CertFacts | None
    status: str = ""
    days_left: int | None = None
    """What the mailbox held before this scan (unchanged rows are not rewritten)."""


# What the profile check reads. JSON columns come as text and are decoded once per distinct
# value (key usages repeat across thousands of certificates); so are the enums and idNats.
_C = Certificate
_COLUMNS = (
    col(Mailbox.id), col(Mailbox.address), col(Mailbox.environment), col(_C.id), col(_C.der),
    col(_C.fingerprint_sha256), col(_C.serial_hex), col(_C.subject), col(_C.issuer),
    col(_C.c), col(_C.st), col(_C.o), col(_C.ou), col(_C.cn), col(_C.not_before),
    col(_C.not_after), col(_C.key_type), col(_C.key_size), col(_C.signature_algorithm),
    col(_C.signature_hash), cast(col(_C.key_usage), Text), cast(col(_C.eku), Text),
    cast(col(_C.san), Text), col(_C.is_ca), col(_C.environment), col(_C.gamme),
    col(_C.domain), col(_C.product), col(_C.legacy_gip_cps), col(_C.idnat),
    col(Mailbox.status), col(Mailbox.days_left),
)


class _Memo(dict[tuple[str, str | None], Any]):
    """Decoded values by (kind, text): JSON lists as tuples, enums, idNatStructs."""

    def get_or(self, kind: str, text: str | None, make: Callable[[str], Any]) -> Any:
        key = (kind, text)
        if key not in self:
            self[key] = None if text is None else make(text)
        return self[key]


def _json_tuple(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _load(session: Session, addresses: Sequence[str] | None = None) -> list[_Target]:
    query = (
        select(*_COLUMNS)
        .outerjoin(Binding, and_(col(Binding.mailbox_id) == Mailbox.id,
                                 col(Binding.role) == BindingRole.CURRENT))
        .outerjoin(Certificate, col(Certificate.id) == Binding.certificate_id)
        .where(col(Mailbox.archived).is_(False))
        .order_by(col(Mailbox.address))
    )
    if addresses is not None:
        query = query.where(col(Mailbox.address).in_(list(addresses)))
    memo = _Memo()
    out: list[_Target] = []
    rows: Any = session.execute(query)  # 32 columns: beyond the typed overloads anyway
    for row in rows:
        env = memo.get_or("menv", row[2], MailboxEnvironment)
        has_cert = row[4] is not None
        out.append(_Target(row[0], row[1], env, row[3] if has_cert else None, row[4],
                           _facts(row, memo) if has_cert else None, row[-2], row[-1]))
    return out


def _facts(row: Any, memo: _Memo) -> CertFacts:
    """The certificate's facts as stored at import: what the profile check reads (the
    URL, policy and key-identifier facts are left empty)."""
    (_, _, _, _, _, fingerprint, serial_hex, subject, issuer, c, st, o, ou, cn, not_before,
     not_after, key_type, key_size, sig_alg, sig_hash, ku, eku, san, is_ca, env, gamme,
     domain, product, legacy, idnat, _, _) = row
    return CertFacts(
        fingerprint_sha256=fingerprint, spki_sha256="", serial=int(serial_hex, 16),
        subject=subject, issuer=issuer, country=c, state=st, organization=o, org_unit=ou,
        common_name=cn, not_before=not_before, not_after=not_after, key_type=key_type,
        key_size=key_size, signature_algorithm=sig_alg, signature_hash=sig_hash,
        key_usage=memo.get_or("json", ku, _json_tuple) or (),
        extended_key_usage=memo.get_or("json", eku, _json_tuple) or (),
        policies=(), crl_urls=(), ocsp_urls=(), ca_issuer_urls=(),
        san=memo.get_or("json", san, _json_tuple) or (), is_ca=bool(is_ca), path_len=None,
        ski=None, aki=None, self_issued=False,
        environment=memo.get_or("env", env, Environment),
        gamme=memo.get_or("gamme", gamme, Gamme), domain=memo.get_or("domain", domain, Domain),
        product=memo.get_or("product", product, Product), legacy_gip_cps=bool(legacy),
        idnat=memo.get_or("idnat", idnat, try_parse_idnat))


# ---------------------------------------------------------------------------- validate
def _expected(mailbox_env: MailboxEnvironment, facts: CertFacts) -> Environment | None:
    return None if facts.environment is Environment.FIXTURE else _PKI_ENV[mailbox_env]


def _no_anchor(env: Environment) -> ValidationResult:
    return ValidationResult(valid=False, path=(), findings=(Finding(
        Code.UNTRUSTED_ROOT, Severity.ERROR,
        f"no trust anchor of the {env.lower()} environment in the store: run "
        "`certmgr trust sync` or `certmgr trust import`"),))


def _validate_env(session: Session, env: Environment, ders: list[bytes], *, at: dt.datetime,
                  loader: TrustLoader, processes: int | None,
                  ) -> tuple[list[ValidationResult], tuple[Finding, ...]]:
    material = loader(session=session, environment=env)
    try:
        ctx = ValidationContext(
            trust_anchors=tuple(material.anchors), at=at,
            untrusted=tuple(material.intermediates), crls=tuple(material.crls),
            revocation=RevocationMode.HARD_FAIL, accept_stale_crl=True,
            required_eku=_REQUIRED_EKU)
    except PKIError:  # no anchor: every certificate of the environment is unverifiable
        return [_no_anchor(env)] * len(ders), tuple(material.trust_store_findings)
    results = Validator(ctx).validate_many(ders, processes=processes)
    return results, tuple(material.trust_store_findings)


@dataclass(frozen=True, slots=True)
class _Verdict:
    status: MailboxStatus
    days_left: int | None
    result: ValidationResult | None
    findings: tuple[Finding, ...]


def _judge(targets: list[_Target], session: Session, *, at: dt.datetime,
           thresholds: Thresholds, loader: TrustLoader, processes: int | None,
           ) -> tuple[list[_Verdict], tuple[Finding, ...]]:
    verdicts: list[_Verdict | None] = [None] * len(targets)
    trust_findings: list[Finding] = []
    by_env: dict[MailboxEnvironment, list[int]] = {}
    for i, t in enumerate(targets):
        if t.der is None:
            verdicts[i] = _Verdict(MailboxStatus.NO_CERTIFICATE, None, None, ())
        else:
            by_env.setdefault(t.environment, []).append(i)
    profiles: dict[tuple[str, Environment | None], tuple[Finding, ...]] = {}
    for env, indexes in sorted(by_env.items()):
        ders = [targets[i].der or b"" for i in indexes]
        results, found = _validate_env(session, _PKI_ENV[env], ders, at=at, loader=loader,
                                       processes=processes)
        trust_findings += [f for f in found if f not in trust_findings]
        for i, result in zip(indexes, results, strict=True):
            facts = targets[i].facts
            assert facts is not None
            expected = _expected(env, facts)
            key = (facts.fingerprint_sha256, expected)
            prof = profiles.get(key)
            if prof is None:
                prof = profiles[key] = check_profile(facts, profile=PROFILE,
                                                     expected_environment=expected)
            findings = result.findings + prof if prof else result.findings
            status, left = mailbox_status(findings, not_after=facts.not_after, at=at,
                                          thresholds=thresholds)
            verdicts[i] = _Verdict(status, left, result, findings)
    return [v for v in verdicts if v is not None], tuple(trust_findings)


# ---------------------------------------------------------------------------- write
# Core statements: executemany without the ORM's per-row bookkeeping.
_RESULTS = ResultRow.__table__  # type: ignore[attr-defined]
_MAILBOX = Mailbox.__table__  # type: ignore[attr-defined]
_SET_STATUS = (update(_MAILBOX).where(_MAILBOX.c.id == bindparam("b_id"))
               .values(status=bindparam("b_status"), days_left=bindparam("b_days_left")))


def _write(session: Session, targets: list[_Target], verdicts: list[_Verdict], *,
           at: dt.datetime, now: dt.datetime, actor: str, counts: dict[MailboxStatus, int],
           trigger: str = SCAN_TRIGGER, action: str = "scan",
           details: dict[str, Any] | None = None) -> int:
    run = ValidationRun(started_at=now, finished_at=now, at=at, trigger=trigger,
                        actor=actor)
    session.add(run)
    session.flush()
    assert run.id is not None
    as_json: dict[Finding, dict[str, Any]] = {}

    def finding_json(f: Finding) -> dict[str, Any]:
        out = as_json.get(f)
        if out is None:
            out = as_json[f] = dict(f.to_json())
        return out

    results: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    for t, v in zip(targets, verdicts, strict=True):
        if (str(v.status), v.days_left) != (t.status, t.days_left):
            statuses.append({"b_id": t.mailbox_id, "b_status": str(v.status),
                             "b_days_left": v.days_left})
        if v.result is None:
            continue
        results.append({
            "run_id": run.id, "certificate_id": t.certificate_id, "mailbox_id": t.mailbox_id,
            "checked_at": now, "at": at, "status": str(v.status),
            "valid": v.status not in {MailboxStatus.INVALID, MailboxStatus.EXPIRED,
                                      MailboxStatus.REVOKED},
            "findings": [finding_json(f) for f in v.findings],
            "path": [e.fingerprint_sha256 for e in v.result.path]})
    if results:
        session.connection().execute(insert(_RESULTS), results)
    if statuses:
        session.connection().execute(_SET_STATUS, statuses)
    append_event(session, actor=actor, action=action, at=now, object_type="validation_run",
                 object_id=run.id, details={"at": at.isoformat(), "certificates": len(results),
                                            "counts": {str(k): n for k, n in counts.items()},
                                            **(details or {})})
    return run.id


def _summary(target: _Target, verdict: _Verdict) -> MailboxScan:
    return MailboxScan(target.address, verdict.status, verdict.days_left,
                       tuple(dict.fromkeys(str(f.code) for f in verdict.findings)))


def revalidate_mailboxes(session: Session, *, addresses: Sequence[str], at: dt.datetime,
                         actor: str, reason: str, trigger: str,
                         thresholds: Thresholds | None = None,
                         now: dt.datetime | None = None) -> tuple[MailboxScan, ...]:
    """`scan` for the mailboxes `addresses` only, in the caller's transaction (flushed rows
    count: call it after changing their CURRENT binding): the same rules and trust
    material, their statuses stored, one `ValidationResult` each in one run of `trigger`
    (`ACTIVATION_TRIGGER`, `IMPORT_TRIGGER`: never "the last scan") and one
    `mailbox.revalidated` audit event naming `reason`. Archived and unknown addresses
    are skipped, as `scan` skips them; by address."""
    now = now or at
    wanted = sorted(set(addresses))
    targets = [t for i in range(0, len(wanted), _CHUNK)
               for t in _load(session, wanted[i:i + _CHUNK])]
    if not targets:
        return ()
    targets.sort(key=lambda t: t.address)
    verdicts, _ = _judge(targets, session, at=at, thresholds=thresholds or Thresholds(),
                         loader=_store_trust, processes=1 if len(targets) == 1 else None)
    counts: dict[MailboxStatus, int] = {}
    for v in verdicts:
        counts[v.status] = counts.get(v.status, 0) + 1
    details: dict[str, Any] = {"reason": reason, "mailboxes": len(targets)}
    if len(targets) == 1:
        details |= {"mailbox": targets[0].address, "status": str(verdicts[0].status)}
    _write(session, targets, verdicts, at=at, now=now, actor=actor, counts=counts,
           trigger=trigger, action="mailbox.revalidated", details=details)
    done = {t.address for t in targets}
    for obj in list(session.identity_map.values()):  # the bulk UPDATE bypassed the ORM
        if isinstance(obj, Mailbox) and obj.address in done:
            session.expire(obj, ["status", "days_left"])
    return tuple(_summary(t, v) for t, v in zip(targets, verdicts, strict=True))


def scan(*, store: Store, at: dt.datetime, actor: str, now: dt.datetime | None = None,
         thresholds: Thresholds | None = None, trust_loader: TrustLoader | None = None,
         processes: int | None = None) -> ScanReport:
    """Validate the current certificate of every active mailbox at `at` and store the
    statuses, one `ValidationResult` per certificate and one audit event.

    `now` (default `at`) is when the check happens (`checked_at`); `trust_loader` defaults
    to the store's trust material; `processes` is passed to `Validator.validate_many`.
    """
    now = now or at
    thresholds = thresholds or Thresholds()
    loader = trust_loader or _store_trust
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with store.sessions() as session:
        targets = _load(session)
        timings["load"] = time.perf_counter() - start
        start = time.perf_counter()
        verdicts, trust_findings = _judge(targets, session, at=at, thresholds=thresholds,
                                          loader=loader, processes=processes)
    timings["validate"] = time.perf_counter() - start
    start = time.perf_counter()
    counts = dict.fromkeys(MailboxStatus, 0)
    for v in verdicts:
        counts[v.status] += 1
    with store.transaction() as session:
        run_id = _write(session, targets, verdicts, at=at, now=now, actor=actor,
                        counts=counts)
    timings["write"] = time.perf_counter() - start
    return ScanReport(
        at=at, checked_at=now, run_id=run_id, counts=counts,
        certificates=sum(v.result is not None for v in verdicts), timings=timings,
        mailboxes=tuple(_summary(t, v) for t, v in zip(targets, verdicts, strict=True)),
        trust_findings=trust_findings)
