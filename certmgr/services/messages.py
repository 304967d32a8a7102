"""Message templates: an `AlertEvent` in, a subject, a text and an HTML body out.

Pure: no clock, no I/O. French is the default language, English the other one
(`LANGUAGES`). Each message names the mailbox, its structure (name and
idNatStruct), the certificate (serial, notAfter, issuer), the days left, and
numbered next steps with the exact certmgr commands and the ANS portal actions
("Demander" to request a certificate, "Retirer" to collect it).

Both bodies are built from one document (facts, then steps), so the text and
the HTML always say the same thing; every value put into HTML is escaped.
Dates are shown in `tz` (Europe/Paris by default). Templates use `str.format`.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from certmgr.services._message_catalog import CATALOG, RENEWAL_STEPS, STEPS, Catalog
from certmgr.services.alert_events import AlertEvent, AlertKind

__all__ = ["LANGUAGES", "RenderedMessage", "group_by_recipient", "render", "render_digest"]

LANGUAGES = ("fr", "en")

# Digest order: what needs action first.
_URGENCY = {
    AlertKind.REVOKED: 0, AlertKind.EXPIRED: 1, AlertKind.CHAIN_INVALID: 2,
    AlertKind.PROBE_FAILED: 3, AlertKind.CRL_STALE: 4, AlertKind.EXPIRY_THRESHOLD: 5,
    AlertKind.ORDER_PENDING: 6, AlertKind.JOB_FAILED: 7, AlertKind.TEST: 8,
}


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A rendered message: one-line subject, plain text, and HTML (None: text only)."""

    subject: str
    text: str
    html: str | None


@dataclass(frozen=True, slots=True)
class _Doc:
    intro: str
    facts: tuple[tuple[str, str], ...]
    findings: tuple[str, ...]
    steps: tuple[str, ...]


def render(event: AlertEvent, *, lang: str = "fr", tz: str = "Europe/Paris") -> RenderedMessage:
    """The message for one event in `lang` ("fr" or "en"); ValueError for another language."""
    cat = _catalog(lang)
    zone = ZoneInfo(tz)
    doc = _document(event, cat, zone)
    subject = cat.subjects[event.kind].format(**_values(event, cat, zone))
    text = "\n".join([*_text_lines(doc, cat), "", cat.footer])
    body = "".join([*_html_parts(doc, cat), f"<p><small>{html.escape(cat.footer)}</small></p>"])
    return RenderedMessage(subject=_one_line(subject), text=text + "\n", html=_page(body))


def render_digest(events: Sequence[AlertEvent], *, lang: str = "fr", recipient: str,
                  at: dt.datetime, tz: str = "Europe/Paris") -> RenderedMessage:
    """The daily digest for `recipient`: every event, most urgent first, each in full.

    `at` is the digest's instant (its date is shown in `tz`). An empty `events`
    gives a digest that says there is nothing to report.
    """
    cat = _catalog(lang)
    zone = ZoneInfo(tz)
    ordered = sorted(events, key=lambda e: (_URGENCY[e.kind], _sort_days(e), e.mailbox or ""))
    day = at.astimezone(zone).strftime(cat.date_format)
    subject = cat.digest_subject.format(date=day, count=len(ordered))
    intro = cat.digest_intro.format(recipient=recipient, date=day, count=len(ordered))
    text: list[str] = [intro, ""]
    parts: list[str] = [f"<p>{html.escape(intro)}</p>"]
    if not ordered:
        text.append(cat.digest_empty)
        parts.append(f"<p>{html.escape(cat.digest_empty)}</p>")
    for number, event in enumerate(ordered, start=1):
        doc = _document(event, cat, zone)
        title = f"{number}. " + cat.subjects[event.kind].format(**_values(event, cat, zone))
        title = _one_line(title.replace("[certmgr] ", ""))
        text += [title, "-" * len(title), *_text_lines(doc, cat), ""]
        parts += [f"<h3>{html.escape(title)}</h3>", *_html_parts(doc, cat)]
    text.append(cat.footer)
    parts.append(f"<p><small>{html.escape(cat.footer)}</small></p>")
    return RenderedMessage(subject=_one_line(subject), text="\n".join(text) + "\n",
                           html=_page("".join(parts)))


def group_by_recipient(items: Iterable[tuple[str, AlertEvent]]) -> dict[str, tuple[AlertEvent,
                                                                                 ...]]:
    """(recipient, event) pairs to one tuple of events per recipient (addresses compared
    case-insensitively, first spelling kept; a repeated event is kept once)."""
    groups: dict[str, list[AlertEvent]] = {}
    names: dict[str, str] = {}
    for recipient, event in items:
        key = recipient.strip().lower()
        names.setdefault(key, recipient.strip())
        bucket = groups.setdefault(key, [])
        if event not in bucket:
            bucket.append(event)
    return {names[key]: tuple(bucket) for key, bucket in groups.items()}


# -- building the document
def _catalog(lang: str) -> Catalog:
    try:
        return CATALOG[lang]
    except KeyError:
        raise ValueError(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}") from None


def _values(event: AlertEvent, cat: Catalog, zone: ZoneInfo) -> dict[str, str]:
    def when(value: dt.datetime | None) -> str:
        if value is None:
            return "-"
        local = value.astimezone(zone)
        return f"{local.strftime(cat.datetime_format)} ({local.tzname()})"

    return {
        "mailbox": event.mailbox or "-",
        "structure": _structure(event),
        "serial": event.serial or "-",
        "fingerprint": event.fingerprint or "-",
        "not_after": when(event.not_after),
        "issuer": event.issuer or "-",
        "threshold_days": str(event.threshold_days or "-"),
        "days_left": "-" if event.days_left is None else str(event.days_left),
        "days_text": _days_text(event.days_left, cat),
        "crl_issuer": event.crl_issuer or "-",
        "next_update": when(event.crl_next_update),
        "order_ref": event.order_ref or "-",
        "pending_days": "-" if event.pending_days is None else str(event.pending_days),
        "endpoint": event.endpoint or "-",
        "probe_status": event.probe_status or "-",
        "job_name": event.job_name or "-",
        "job_error": event.job_error or "-",
        "at": when(event.at),
    }


def _document(event: AlertEvent, cat: Catalog, zone: ZoneInfo) -> _Doc:
    values = _values(event, cat, zone)
    facts: list[tuple[str, str]] = []
    for key, label in cat.labels.items():
        if values[key] != "-" and key in _FACTS_SHOWN[event.kind]:
            facts.append((label, values[key]))
    findings = tuple(f"{f.code}: {f.message}" if f.message else f.code for f in event.findings)
    steps = [s.format(**values) for s in STEPS[cat.lang][event.kind]]
    if event.kind in _RENEWAL_KINDS:
        steps += [s.format(**values) for s in RENEWAL_STEPS[cat.lang]]
    return _Doc(intro=cat.intros[event.kind].format(**values), facts=tuple(facts),
                findings=findings, steps=tuple(steps))


_CERT_FACTS = frozenset({"mailbox", "structure", "serial", "not_after", "issuer", "days_text",
                         "fingerprint"})
_FACTS_SHOWN: dict[AlertKind, frozenset[str]] = {
    AlertKind.EXPIRY_THRESHOLD: _CERT_FACTS,
    AlertKind.EXPIRED: _CERT_FACTS,
    AlertKind.REVOKED: _CERT_FACTS,
    AlertKind.CHAIN_INVALID: _CERT_FACTS,
    AlertKind.CRL_STALE: _CERT_FACTS | {"crl_issuer", "next_update"},
    AlertKind.ORDER_PENDING: _CERT_FACTS | {"order_ref", "pending_days"},
    # the certificate the mailbox presents (no fingerprint: this is no certificate alert);
    # the intro says since when it fails
    AlertKind.PROBE_FAILED: (_CERT_FACTS - {"fingerprint"}) | {"endpoint", "probe_status"},
    AlertKind.JOB_FAILED: frozenset({"job_name", "job_error", "at"}),
    AlertKind.TEST: frozenset({"at"}),
}
_RENEWAL_KINDS = frozenset({AlertKind.EXPIRY_THRESHOLD, AlertKind.EXPIRED, AlertKind.REVOKED,
                            AlertKind.CHAIN_INVALID})


def _structure(event: AlertEvent) -> str:
    if event.structure_name and event.structure_idnat:
        return f"{event.structure_name} ({event.structure_idnat})"
    return event.structure_name or event.structure_idnat or "-"


def _days_text(days: int | None, cat: Catalog) -> str:
    if days is None:
        return "-"
    if days < 0:
        return cat.expired_since.format(n=-days, unit=cat.day_unit(-days))
    return cat.days_left.format(n=days, unit=cat.day_unit(days))


def _sort_days(event: AlertEvent) -> int:
    return event.days_left if event.days_left is not None else 1_000_000


def _one_line(text: str) -> str:
    # A value with a line break must not open a new mail header or a fake subject line.
    return " ".join(text.split())


# -- text and HTML from the document
def _text_lines(doc: _Doc, cat: Catalog) -> list[str]:
    lines = [doc.intro, ""]
    width = max((len(label) for label, _ in doc.facts), default=0)
    lines += [f"  {label.ljust(width)} : {value}" for label, value in doc.facts]
    if doc.findings:
        lines += ["", cat.findings_title, *(f"  - {f}" for f in doc.findings)]
    if doc.steps:
        lines += ["", cat.steps_title, *(f"  {n}. {s}" for n, s in enumerate(doc.steps, 1))]
    return lines


def _html_parts(doc: _Doc, cat: Catalog) -> list[str]:
    esc = html.escape
    parts = [f"<p>{esc(doc.intro)}</p>"]
    if doc.facts:
        rows = "".join(f'<tr><th align="left">{esc(label)}</th><td>{esc(value)}</td></tr>'
                       for label, value in doc.facts)
        parts.append(f"<table>{rows}</table>")
    if doc.findings:
        items = "".join(f"<li>{esc(f)}</li>" for f in doc.findings)
        parts.append(f"<p>{esc(cat.findings_title)}</p><ul>{items}</ul>")
    if doc.steps:
        items = "".join(f"<li>{esc(s)}</li>" for s in doc.steps)
        parts.append(f"<p>{esc(cat.steps_title)}</p><ol>{items}</ol>")
    return parts


def _page(body: str) -> str:
    return f"<!DOCTYPE html><html><body>{body}</body></html>\n"
