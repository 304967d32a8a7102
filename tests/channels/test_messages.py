"""Templates: every kind in French and English names the mailbox, days left and next steps."""

from __future__ import annotations

import datetime as dt

import pytest

from certmgr.services.alert_events import AlertEvent, AlertFinding, AlertKind
from certmgr.services.messages import LANGUAGES, group_by_recipient, render, render_digest

AT = dt.datetime(2026, 6, 1, 6, 30, tzinfo=dt.UTC)
MAILBOX = "bal.appli@hopital-eloi.mssante.fr"
CERT = {
    "mailbox": MAILBOX, "structure_name": "Hôpital Saint-Éloi", "structure_idnat": "10B0123456",
    "serial": "1A2B3C4D", "fingerprint": "ab" * 32,
    "not_after": dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC),
    "issuer": "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS", "days_left": 14,
}
EXTRA: dict[AlertKind, dict[str, object]] = {
    AlertKind.EXPIRY_THRESHOLD: {"threshold_days": 14},
    AlertKind.EXPIRED: {"days_left": -3},
    AlertKind.REVOKED: {},
    AlertKind.CHAIN_INVALID: {"findings": (AlertFinding("UNTRUSTED_ROOT", "racine inconnue"),)},
    AlertKind.CRL_STALE: {"crl_issuer": "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
                          "crl_next_update": AT - dt.timedelta(hours=2)},
    AlertKind.ORDER_PENDING: {"order_ref": "CMD-42", "pending_days": 12},
    AlertKind.JOB_FAILED: {"job_name": "crl_refresh", "job_error": "timeout"},
    AlertKind.PROBE_FAILED: {"endpoint": "mx.operateur.fr:587", "probe_status": "CRITICAL",
                             "findings": (AlertFinding("TLS_TIMEOUT", "no answer"),)},
    AlertKind.TEST: {},
}
NEXT_STEP = {  # one command or portal action each kind's message must give
    AlertKind.EXPIRY_THRESHOLD: f"certmgr csr new {MAILBOX}",
    AlertKind.EXPIRED: f"certmgr order mark {MAILBOX} --ref REF",
    AlertKind.REVOKED: f"certmgr csr new {MAILBOX}",
    AlertKind.CHAIN_INVALID: "certmgr scan",
    AlertKind.CRL_STALE: "certmgr crl refresh",
    AlertKind.ORDER_PENDING: "Retirer",
    AlertKind.JOB_FAILED: "certmgr jobs run crl_refresh",
    AlertKind.PROBE_FAILED: f"certmgr probe --mailbox {MAILBOX}",
}
DAYS = {"fr": {14: "14 jours", -3: "expiré depuis 3 jours"},
        "en": {14: "14 days", -3: "expired 3 days ago"}}


def event(kind: AlertKind, **changes: object) -> AlertEvent:
    values: dict[str, object] = {"kind": kind, "at": AT}
    if kind not in {AlertKind.JOB_FAILED, AlertKind.TEST}:
        values.update(CERT)
    values.update(EXTRA[kind])
    values.update(changes)
    return AlertEvent(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", list(AlertKind))
def test_every_kind_renders_the_facts_and_next_steps(kind: AlertKind, lang: str) -> None:
    e = event(kind)
    rendered = render(e, lang=lang)
    assert rendered.subject.startswith("[certmgr] ")
    assert "\n" not in rendered.subject
    assert rendered.html is not None
    for body in (rendered.text, rendered.html):
        if e.mailbox is not None:
            assert MAILBOX in body
            assert "10B0123456" in body
            assert "1A2B3C4D" in body
            assert "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" in body
            assert DAYS[lang][e.days_left or 0] in body
        if kind in NEXT_STEP:
            assert NEXT_STEP[kind] in body
    if kind in {AlertKind.EXPIRY_THRESHOLD, AlertKind.EXPIRED, AlertKind.REVOKED}:
        for step in ("Demander", "Retirer", "certmgr import"):
            assert step in rendered.text


def test_french_is_the_default_and_english_differs() -> None:
    e = event(AlertKind.EXPIRY_THRESHOLD)
    fr, en = render(e), render(e, lang="en")
    assert fr == render(e, lang="fr")
    assert "Que faire" in fr.text
    assert "expire le 15/06/2026 12:00 (CEST)" in fr.text  # shown in Europe/Paris
    assert "What to do next" in en.text
    assert "2026-06-15 12:00 (CEST)" in en.text
    with pytest.raises(ValueError, match="unknown language"):
        render(e, lang="de")


def test_values_are_escaped_in_html_and_kept_on_one_subject_line() -> None:
    e = event(AlertKind.JOB_FAILED, job_name="scan\nBcc: x@y.fr", job_error="<b>boom</b> & co")
    rendered = render(e, lang="en")
    assert "\n" not in rendered.subject
    assert rendered.html is not None
    assert "<b>boom</b>" not in rendered.html
    assert "&lt;b&gt;boom&lt;/b&gt; &amp; co" in rendered.html
    assert "<b>boom</b> & co" in rendered.text


def test_event_validation_and_stable_dedup_key() -> None:
    with pytest.raises(ValueError, match="threshold_days"):
        event(AlertKind.EXPIRY_THRESHOLD, threshold_days=None)
    with pytest.raises(ValueError, match="aware"):
        event(AlertKind.TEST, at=dt.datetime(2026, 1, 1))
    a = event(AlertKind.EXPIRY_THRESHOLD)
    later = event(AlertKind.EXPIRY_THRESHOLD, at=AT + dt.timedelta(days=1), days_left=13)
    assert a.dedup_key == later.dedup_key  # same certificate, same threshold
    assert a.dedup_key != event(AlertKind.EXPIRY_THRESHOLD, threshold_days=7).dedup_key
    assert a.dedup_key.startswith("expiry_threshold-")
    assert a.to_json()["dedup_key"] == a.dedup_key


@pytest.mark.parametrize("lang", LANGUAGES)
def test_digest_groups_events_most_urgent_first(lang: str) -> None:
    soon = event(AlertKind.EXPIRY_THRESHOLD)
    revoked = event(AlertKind.REVOKED, mailbox="autre@hopital-eloi.mssante.fr")
    stale = event(AlertKind.CRL_STALE)
    digest = render_digest([soon, stale, revoked], lang=lang, recipient="admin@hopital.fr",
                           at=AT)
    assert "3" in digest.subject
    assert ("01/06/2026" if lang == "fr" else "2026-06-01") in digest.subject
    assert "admin@hopital.fr" in digest.text
    titles = [line for line in digest.text.splitlines() if line[:3] in {"1. ", "2. ", "3. "}]
    assert len(titles) == 3
    assert "autre@hopital-eloi.mssante.fr" in titles[0]  # revoked
    assert "CRL" in titles[1]
    assert DAYS[lang][14] in titles[2]
    assert digest.html is not None
    assert digest.html.count("<h3>") == 3


def test_empty_digest_says_so() -> None:
    digest = render_digest([], recipient="admin@hopital.fr", at=AT)
    assert "Rien à signaler" in digest.text


def test_group_by_recipient() -> None:
    a, b = event(AlertKind.EXPIRED), event(AlertKind.REVOKED)
    groups = group_by_recipient([("Admin@h.fr", a), ("admin@h.fr", b), ("admin@h.fr", a),
                                 ("ops@h.fr", b)])
    assert groups == {"Admin@h.fr": (a, b), "ops@h.fr": (b,)}
