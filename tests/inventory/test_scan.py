"""`scan`: one status per active mailbox from the fixture leaves, thresholds, results, audit."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import col, func, select

from certmgr.services.mailboxes import archive_mailbox
from certmgr.services.scan import ScanReport, scan
from certmgr.services.status import Thresholds
from certmgr.store.enums import MailboxEnvironment, MailboxStatus
from certmgr.store.models import AuditEvent, Mailbox, ValidationResult, ValidationRun
from certmgr.store.session import Store
from certmgr.testpki import PkiIndex

from .conftest import ACTOR, AT, add, bind, seed_trust, trust_loader

S = MailboxStatus
EXPECTED = {
    "el-org-auth-valid": S.OK,
    "el-org-auth-bad-idnat": S.OK,  # a wrong check digit is a warning only
    "el-org-auth-expiring-120d": S.OK,
    "el-org-auth-expiring-90d": S.RENEW_SOON,
    "el-org-auth-expiring-60d": S.RENEW_SOON,
    "el-org-auth-expiring-30d": S.CRITICAL,
    "el-org-auth-expiring-1d": S.CRITICAL,
    "el-org-auth-expired": S.EXPIRED,
    "el-org-auth-revoked": S.REVOKED,
    "el-org-auth-on-hold": S.REVOKED,
    "el-org-auth-revoked-delta": S.REVOKED,
    "el-org-sign-wrong-usage": S.INVALID,
    "el-org-auth-bad-signature": S.INVALID,
    "el-org-serv-ssl": S.INVALID,
    "unknown-ca-auth": S.INVALID,
    "el-org-auth-not-yet-valid": S.INVALID,
}


def _scan(store: Store, at: dt.datetime = AT, **kw: object) -> ScanReport:
    return scan(store=store, at=at, actor=ACTOR, trust_loader=trust_loader(),
                processes=1, **kw)  # type: ignore[arg-type]


def _status(store: Store, address: str) -> tuple[MailboxStatus, int | None]:
    with store.sessions() as session:
        mb = session.exec(select(Mailbox).where(col(Mailbox.address) == address)).one()
        return MailboxStatus(mb.status), mb.days_left


def test_every_status_from_the_fixture_leaves(store: Store, pki: PkiIndex) -> None:
    seed_trust(store, pki)
    for name in EXPECTED:
        add(store, f"{name}@ch.mssante.fr")
        bind(store, f"{name}@ch.mssante.fr", name, pki)
    add(store, "nocert@ch.mssante.fr")
    report = _scan(store)
    got = {m.address.split("@")[0]: m.status for m in report.mailboxes}
    assert got == {**EXPECTED, "nocert": S.NO_CERTIFICATE}
    assert _status(store, "el-org-auth-expiring-30d@ch.mssante.fr") == (S.CRITICAL, 30)
    assert _status(store, "el-org-auth-expired@ch.mssante.fr") == (S.EXPIRED, -1)
    assert _status(store, "nocert@ch.mssante.fr") == (S.NO_CERTIFICATE, None)
    codes = {m.address.split("@")[0]: m.codes for m in report.mailboxes}
    assert "REVOKED" in codes["el-org-auth-revoked"]
    assert "BAD_SIGNATURE" in codes["el-org-auth-bad-signature"]
    assert "PROFILE_EKU" in codes["el-org-sign-wrong-usage"]
    assert report.counts[S.NO_CERTIFICATE] == 1
    assert report.certificates == len(EXPECTED)
    assert report.needs_attention
    assert set(report.timings) == {"load", "validate", "write"}


def test_results_run_and_one_audit_event(store: Store, pki: PkiIndex) -> None:
    seed_trust(store, pki)
    for name in ("el-org-auth-valid", "el-org-auth-revoked"):
        add(store, f"{name}@ch.mssante.fr")
        bind(store, f"{name}@ch.mssante.fr", name, pki)
    add(store, "nocert@ch.mssante.fr")
    now = AT + dt.timedelta(minutes=5)
    report = _scan(store, now=now)
    with store.sessions() as session:
        results = session.exec(select(ValidationResult).order_by(col(ValidationResult.id))).all()
        runs = session.exec(select(ValidationRun)).all()
        scans = session.exec(select(func.count()).select_from(AuditEvent)
                             .where(col(AuditEvent.action) == "scan")).one()
    assert len(runs) == 1
    assert runs[0].id == report.run_id
    assert runs[0].trigger == "scan"
    assert len(results) == 2  # one per certificate; none for the mailbox without one
    by_status = {r.status: r for r in results}
    assert by_status["OK"].valid
    assert not by_status["REVOKED"].valid
    assert by_status["REVOKED"].findings[0]["code"] == "REVOKED"
    assert by_status["OK"].checked_at == now
    assert by_status["OK"].at == AT
    assert len(by_status["OK"].path) == 3  # leaf, intermediate, root
    assert scans == 1


def test_stale_crl_is_accepted_with_a_warning(store: Store, pki: PkiIndex) -> None:
    seed_trust(store, pki)
    add(store, "a@ch.mssante.fr")
    bind(store, "a@ch.mssante.fr", "el-org-auth-valid", pki)
    report = _scan(store, AT + dt.timedelta(days=7))  # the CRLs' nextUpdate is at + 6 days
    (only,) = report.mailboxes
    assert only.status is S.OK
    assert "CRL_STALE" in only.codes


def test_no_crl_is_invalid_in_hard_fail(store: Store, pki: PkiIndex) -> None:
    seed_trust(store, pki, crl_scenarios=frozenset())
    add(store, "a@ch.mssante.fr")
    bind(store, "a@ch.mssante.fr", "el-org-auth-valid", pki)
    (only,) = _scan(store).mailboxes
    assert only.status is S.INVALID
    assert "CRL_MISSING" in only.codes


def test_no_anchor_makes_bound_mailboxes_invalid(store: Store, pki: PkiIndex) -> None:
    add(store, "a@ch.mssante.fr")
    bind(store, "a@ch.mssante.fr", "el-org-auth-valid", pki)
    (only,) = _scan(store).mailboxes
    assert only.status is S.INVALID
    assert only.codes == ("UNTRUSTED_ROOT",)


@pytest.mark.parametrize(("offset", "expected", "left"), [
    (dt.timedelta(days=90, seconds=1), S.OK, 91),
    (dt.timedelta(days=90), S.RENEW_SOON, 90),
    (dt.timedelta(days=90, seconds=-1), S.RENEW_SOON, 90),
    (dt.timedelta(days=30, seconds=1), S.RENEW_SOON, 31),
    (dt.timedelta(days=30), S.CRITICAL, 30),
    (dt.timedelta(days=30, seconds=-1), S.CRITICAL, 30),
    (dt.timedelta(0), S.CRITICAL, 0),
    (dt.timedelta(seconds=-1), S.EXPIRED, -1),
])
def test_threshold_boundaries(store: Store, pki: PkiIndex, offset: dt.timedelta,
                              expected: MailboxStatus, left: int) -> None:
    seed_trust(store, pki)
    add(store, "a@ch.mssante.fr")
    bind(store, "a@ch.mssante.fr", "el-org-auth-valid", pki)
    not_after = pki["el-org-auth-valid"].not_after
    assert not_after is not None
    _scan(store, not_after - offset)
    assert _status(store, "a@ch.mssante.fr") == (expected, left)


def test_thresholds_come_from_the_caller(store: Store, pki: PkiIndex) -> None:
    seed_trust(store, pki)
    add(store, "a@ch.mssante.fr")
    bind(store, "a@ch.mssante.fr", "el-org-auth-expiring-60d", pki)
    _scan(store, thresholds=Thresholds(renew_soon_days=120, critical_days=60))
    assert _status(store, "a@ch.mssante.fr") == (S.CRITICAL, 60)


def test_archived_mailboxes_are_not_scanned(store: Store, pki: PkiIndex) -> None:
    seed_trust(store, pki)
    add(store, "a@ch.mssante.fr")
    bind(store, "a@ch.mssante.fr", "el-org-auth-revoked", pki)
    add(store, "b@ch.mssante.fr")
    archive_mailbox(store=store, address="a@ch.mssante.fr", at=AT, actor=ACTOR)
    report = _scan(store)
    assert [m.address for m in report.mailboxes] == ["b@ch.mssante.fr"]
    assert _status(store, "a@ch.mssante.fr") == (S.NO_CERTIFICATE, None)  # untouched


def test_environment_rules(store: Store, pki: PkiIndex) -> None:
    seed_trust(store, pki)
    # a FIXTURE certificate stands in for either environment
    add(store, "t@ch.mssante.fr", env=MailboxEnvironment.TEST)
    bind(store, "t@ch.mssante.fr", "el-org-auth-valid", pki)
    (only,) = _scan(store).mailboxes
    assert only.status is S.OK
