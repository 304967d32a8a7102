"""`certmgr report`: one row per active mailbox, as CSV, JSON or Markdown.

A row holds the structure (idNatStruct, name), the current certificate (serial,
SHA-256 fingerprint, notAfter, issuer CN), the days left, status and finding
codes as the last scan left them (`certmgr scan` refreshes them).

CSV is meant for spreadsheets, so it is defused against formula injection: a
text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
leading single quote (OWASP "CSV injection"); numbers are written as numbers.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import and_, func, select
from sqlmodel import col

from certmgr.store.enums import BindingRole, MailboxStatus
from certmgr.store.models import Binding, Certificate, Mailbox, Structure, ValidationResult

if TYPE_CHECKING:
    import datetime as dt

    from certmgr.store.session import Store

__all__ = ["REPORT_COLUMNS", "ReportFormat", "ReportRow", "neutralise_cell", "render_report",
           "report_rows"]

REPORT_COLUMNS = ("address", "idnat", "structure", "application", "environment", "serial",
                  "fingerprint_sha256", "not_after", "issuer_cn", "days_left", "status",
                  "findings")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ReportFormat(enum.StrEnum):
    CSV = "csv"
    JSON = "json"
    MD = "md"


@dataclass(frozen=True, slots=True)
class ReportRow:
    address: str
    idnat: str
    structure: str
    application: str
    environment: str
    serial: str | None
    fingerprint_sha256: str | None
    not_after: dt.datetime | None
    issuer_cn: str | None
    days_left: int | None
    status: MailboxStatus
    findings: tuple[str, ...]
    """Distinct finding codes of the last validation of the current certificate."""

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "idnat": self.idnat, "structure": self.structure,
                "application": self.application, "environment": self.environment,
                "serial": self.serial, "fingerprint_sha256": self.fingerprint_sha256,
                "not_after": None if self.not_after is None else self.not_after.isoformat(),
                "issuer_cn": self.issuer_cn, "days_left": self.days_left,
                "status": str(self.status), "findings": list(self.findings)}


def _issuer_cn(issuer: str | None) -> str | None:
    if issuer is None:
        return None
    try:
        attrs = x509.Name.from_rfc4514_string(issuer).get_attributes_for_oid(
            NameOID.COMMON_NAME)
    except ValueError:
        return issuer
    return str(attrs[0].value) if attrs else issuer


def report_rows(*, store: Store) -> tuple[ReportRow, ...]:
    """The rows of the report, by address (archived mailboxes left out)."""
    latest = (select(col(ValidationResult.mailbox_id).label("mailbox_id"),
                     func.max(ValidationResult.id).label("result_id"))
              .group_by(col(ValidationResult.mailbox_id)).subquery())
    query = (
        select(col(Mailbox.address), col(Structure.idnat), col(Structure.name),
               col(Mailbox.application), col(Mailbox.environment), col(Certificate.serial_hex),
               col(Certificate.fingerprint_sha256), col(Certificate.not_after),
               col(Certificate.issuer), col(Mailbox.days_left), col(Mailbox.status),
               col(ValidationResult.certificate_id), col(Certificate.id),
               col(ValidationResult.findings))
        .join(Structure, col(Structure.id) == Mailbox.structure_id)
        .outerjoin(Binding, and_(col(Binding.mailbox_id) == Mailbox.id,
                                 col(Binding.role) == BindingRole.CURRENT))
        .outerjoin(Certificate, col(Certificate.id) == Binding.certificate_id)
        .outerjoin(latest, latest.c.mailbox_id == Mailbox.id)
        .outerjoin(ValidationResult, col(ValidationResult.id) == latest.c.result_id)
        .where(col(Mailbox.archived).is_(False))
        .order_by(col(Mailbox.address))
    )
    with store.sessions() as session:
        rows = session.execute(query).all()
    out: list[ReportRow] = []
    for (address, idnat, name, app, env, serial, fp, not_after, issuer, left, status,
         checked_cert, cert_id, findings) in rows:
        # findings of an older certificate (rebound since the last scan) do not apply
        codes = (tuple(dict.fromkeys(str(f["code"]) for f in findings or ()))
                 if checked_cert is not None and checked_cert == cert_id else ())
        out.append(ReportRow(address, idnat, name, app, str(env), serial, fp, not_after,
                             _issuer_cn(issuer), left, MailboxStatus(status), codes))
    return tuple(out)


def neutralise_cell(value: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula (text only; numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _cells(row: ReportRow) -> list[object]:
    data = row.to_json()
    data["findings"] = " ".join(row.findings)
    return [data[c] if data[c] is not None else "" for c in REPORT_COLUMNS]


def _md_cell(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_report(rows: tuple[ReportRow, ...], *, fmt: ReportFormat) -> str:
    """The report text in `fmt` (CSV: comma-separated, header row, CRLF line ends)."""
    if fmt is ReportFormat.JSON:
        return json.dumps([r.to_json() for r in rows], ensure_ascii=False, indent=2) + "\n"
    if fmt is ReportFormat.CSV:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(REPORT_COLUMNS)
        writer.writerows([neutralise_cell(v) for v in _cells(r)] for r in rows)
        return buffer.getvalue()
    lines = ["| " + " | ".join(REPORT_COLUMNS) + " |",
             "|" + "---|" * len(REPORT_COLUMNS)]
    lines += ["| " + " | ".join(_md_cell(v) for v in _cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"
