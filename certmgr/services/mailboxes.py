"""Structures and applicative mailboxes: add, list, show, archive, and CSV bulk import.

Rules shared by `mailbox add` and `mailbox import`:
- the address is a syntactically valid e-mail address, stored lower-cased (MSSanté
  addresses are case-insensitive) and unique, archived mailboxes included;
- the structure is found by its idNatStruct, or created: the idNatStruct must be
  well formed (`IdentifierError` otherwise) and its check digit right, unless
  `force_idnat` (an identifier ANS knows better than the Luhn rule, e.g. a new
  FINESS); an existing structure keeps its name;
- contacts are e-mail addresses; the département, when given, is a French code
  ("75", "2A", "971") stored as IGC Santé writes it ("Paris (75)").

Every change appends an audit event (`structure.add`, `mailbox.add`,
`mailbox.archive`) in its own transaction; objects are named by idNatStruct and
address. CSV import rules are in `import_mailboxes_csv`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from certmgr.errors import ConflictError, IdentifierError, InputError, NotFoundError
from certmgr.pki.departments import departement_label
from certmgr.pki.idnat import IdNat, parse_idnat
from certmgr.store.audit import append_event
from certmgr.store.enums import BindingRole, MailboxEnvironment, MailboxStatus
from certmgr.store.models import (
    AuditEvent,
    Binding,
    Certificate,
    Mailbox,
    Structure,
    ValidationResult,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.store.session import Store

__all__ = [
    "CSV_COLUMNS",
    "CertificateView",
    "CsvImportReport",
    "CsvRowOutcome",
    "MailboxAdded",
    "MailboxDetail",
    "MailboxSpec",
    "MailboxSummary",
    "add_mailbox",
    "archive_mailbox",
    "import_mailboxes_csv",
    "list_mailboxes",
    "normalize_address",
    "show_mailbox",
]

# Practical RFC 5321 shape: dot-atom local part, dotted domain with a 2+ letter TLD.
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_MAX_ADDRESS = 254


def normalize_address(text: str, *, source: str | None = None, what: str = "address") -> str:
    """`text` as a stored address (trimmed, lower-cased); InputError when not an e-mail."""
    value = text.strip().lower()
    if len(value) > _MAX_ADDRESS or _EMAIL_RE.fullmatch(value) is None:
        raise InputError(f"not a valid e-mail {what}: {text!r}", source=source)
    return value


# ---------------------------------------------------------------------------- add
@dataclass(frozen=True, slots=True)
class MailboxSpec:
    """What `mailbox add` (or one CSV row) asks for, as typed by the user."""

    address: str
    idnat: str
    organization: str
    department: str | None = None
    application: str = ""
    contacts: tuple[str, ...] = ()
    environment: MailboxEnvironment = MailboxEnvironment.PRODUCTION


@dataclass(frozen=True, slots=True)
class _Checked:
    address: str
    idnat: IdNat
    organization: str
    department: str | None
    application: str
    contacts: tuple[str, ...]
    environment: MailboxEnvironment


def _check(spec: MailboxSpec, *, force_idnat: bool, source: str | None) -> _Checked:
    address = normalize_address(spec.address, source=source)
    idnat = parse_idnat(spec.idnat, source=source)
    if idnat.check_digit_ok is False and not force_idnat:
        raise IdentifierError(
            f"idNatStruct {idnat.raw}: wrong check digit for the {idnat.kind.name} "
            f"{idnat.value} (use --force-idnat to record it anyway)", source=source)
    organization = spec.organization.strip()
    if not organization:
        raise InputError("the organization name is empty", source=source)
    department = None
    if spec.department and spec.department.strip():
        try:
            department = departement_label(spec.department)
        except InputError as exc:
            raise InputError(exc.reason, source=source) from None
    contacts = tuple(dict.fromkeys(normalize_address(c, source=source, what="contact")
                                   for c in spec.contacts if c.strip()))
    return _Checked(address, idnat, organization, department, spec.application.strip(),
                    contacts, MailboxEnvironment(spec.environment))


@dataclass(frozen=True, slots=True)
class MailboxAdded:
    address: str
    idnat: str
    structure_name: str
    structure_created: bool
    environment: MailboxEnvironment

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "idnat": self.idnat,
                "structure": self.structure_name, "structure_created": self.structure_created,
                "environment": str(self.environment)}


def _add(session: Session, item: _Checked, *, at: dt.datetime, actor: str) -> MailboxAdded:
    taken = session.scalar(select(col(Mailbox.id)).where(col(Mailbox.address) == item.address))
    if taken is not None:
        raise ConflictError(f"mailbox {item.address} already exists")
    structure = session.scalar(select(Structure).where(col(Structure.idnat) == item.idnat.raw))
    created = structure is None
    if structure is None:
        structure = Structure(name=item.organization, idnat_kind=int(item.idnat.kind),
                              idnat_value=item.idnat.value, idnat=item.idnat.raw,
                              department=item.department, created_at=at)
        session.add(structure)
        session.flush()
        append_event(session, actor=actor, action="structure.add", at=at,
                     object_type="structure", object_id=structure.idnat,
                     details={"name": structure.name, "kind": item.idnat.kind.name,
                              "check_digit_ok": item.idnat.check_digit_ok})
    assert structure.id is not None
    mailbox = Mailbox(address=item.address, structure_id=structure.id,
                      application=item.application, contacts=list(item.contacts),
                      environment=item.environment, created_at=at, updated_at=at)
    session.add(mailbox)
    try:
        session.flush()
    except IntegrityError as exc:  # another writer took the address since our check
        raise ConflictError(f"mailbox {item.address} already exists") from exc
    append_event(session, actor=actor, action="mailbox.add", at=at, object_type="mailbox",
                 object_id=item.address,
                 details={"structure": structure.idnat, "environment": str(item.environment),
                          "application": item.application})
    return MailboxAdded(item.address, structure.idnat, structure.name, created,
                        item.environment)


def add_mailbox(*, store: Store, spec: MailboxSpec, at: dt.datetime, actor: str,
                force_idnat: bool = False) -> MailboxAdded:
    """Create the mailbox (and its structure when new). InputError/IdentifierError for bad
    input, ConflictError when the address exists."""
    item = _check(spec, force_idnat=force_idnat, source=None)
    with store.transaction() as session:
        return _add(session, item, at=at, actor=actor)


# ---------------------------------------------------------------------------- list
@dataclass(frozen=True, slots=True)
class MailboxSummary:
    address: str
    idnat: str
    structure_name: str
    application: str
    environment: MailboxEnvironment
    status: MailboxStatus
    days_left: int | None
    not_after: dt.datetime | None
    archived: bool

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "idnat": self.idnat, "structure": self.structure_name,
                "application": self.application, "environment": str(self.environment),
                "status": str(self.status), "days_left": self.days_left,
                "not_after": self.not_after, "archived": self.archived}


def list_mailboxes(*, store: Store, statuses: Sequence[MailboxStatus] = (),
                   expiring_within: int | None = None, structure: str | None = None,
                   search: str | None = None, include_archived: bool = False,
                   ) -> tuple[MailboxSummary, ...]:
    """Mailboxes by address, filtered: any of `statuses`; 0 <= days left <= `expiring_within`
    (as of the last scan); the structure's idNatStruct; `search` (case-insensitive) in the
    address, application, structure name or idNatStruct. Archived ones only on request."""
    query = (
        select(col(Mailbox.address), col(Structure.idnat), col(Structure.name),
               col(Mailbox.application), col(Mailbox.environment), col(Mailbox.status),
               col(Mailbox.days_left), col(Certificate.not_after), col(Mailbox.archived))
        .join(Structure, col(Structure.id) == Mailbox.structure_id)
        .outerjoin(Binding, and_(col(Binding.mailbox_id) == Mailbox.id,
                                 col(Binding.role) == BindingRole.CURRENT))
        .outerjoin(Certificate, col(Certificate.id) == Binding.certificate_id)
        .order_by(col(Mailbox.address))
    )
    if not include_archived:
        query = query.where(col(Mailbox.archived).is_(False))
    if statuses:
        query = query.where(col(Mailbox.status).in_([MailboxStatus(s) for s in statuses]))
    if expiring_within is not None:
        query = query.where(col(Mailbox.days_left).between(0, expiring_within))
    if structure:
        query = query.where(col(Structure.idnat) == structure.strip())
    if search:
        needle = f"%{search.strip().lower()}%"
        query = query.where(or_(*(func.lower(c).like(needle) for c in (
            col(Mailbox.address), col(Mailbox.application), col(Structure.name),
            col(Structure.idnat)))))
    with store.sessions() as session:
        rows = session.execute(query).all()
    return tuple(MailboxSummary(a, i, n, app, MailboxEnvironment(env), MailboxStatus(s), d, na,
                                bool(arch)) for a, i, n, app, env, s, d, na, arch in rows)


# ---------------------------------------------------------------------------- show
@dataclass(frozen=True, slots=True)
class CertificateView:
    """A certificate bound to a mailbox, with its binding."""

    role: BindingRole
    bound_at: dt.datetime
    unbound_at: dt.datetime | None
    fingerprint_sha256: str
    serial_hex: str
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    product: str
    environment: str
    idnat: str | None

    def to_json(self) -> dict[str, Any]:
        return {name: (str(v) if isinstance(v, BindingRole) else v)
                for name in self.__dataclass_fields__ if (v := getattr(self, name)) is not None
                or name == "unbound_at"}


@dataclass(frozen=True, slots=True)
class MailboxDetail:
    summary: MailboxSummary
    contacts: tuple[str, ...]
    department: str | None
    created_at: dt.datetime
    certificates: tuple[CertificateView, ...]
    """Every binding, current first, then next, then previous ones, newest first."""
    last_validation: dict[str, Any] | None
    events: tuple[dict[str, Any], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {**self.summary.to_json(), "contacts": list(self.contacts),
                "department": self.department, "created_at": self.created_at,
                "certificates": [c.to_json() for c in self.certificates],
                "last_validation": self.last_validation, "events": list(self.events)}


_ROLE_ORDER = {BindingRole.CURRENT: 0, BindingRole.NEXT: 1, BindingRole.PREVIOUS: 2}


def _mailbox(session: Session, address: str) -> Mailbox:
    wanted = address.strip().lower()
    mailbox = session.scalar(select(Mailbox).where(col(Mailbox.address) == wanted))
    if mailbox is None:
        raise NotFoundError(f"no mailbox {wanted}")
    return mailbox


def show_mailbox(*, store: Store, address: str) -> MailboxDetail:
    """Everything known about one mailbox; NotFoundError when there is none."""
    with store.sessions() as session:
        mb = _mailbox(session, address)
        st = session.get(Structure, mb.structure_id)
        assert st is not None
        bound = session.execute(
            select(Binding, Certificate).join(Certificate, col(Certificate.id)
                                              == Binding.certificate_id)
            .where(col(Binding.mailbox_id) == mb.id)).all()
        views = sorted((CertificateView(
            BindingRole(b.role), b.bound_at, b.unbound_at, c.fingerprint_sha256, c.serial_hex,
            c.subject, c.issuer, c.not_before, c.not_after, c.product, c.environment, c.idnat)
            for b, c in bound), key=lambda v: (_ROLE_ORDER[v.role], -v.bound_at.timestamp()))
        last = session.scalar(select(ValidationResult).where(
            col(ValidationResult.mailbox_id) == mb.id).order_by(col(ValidationResult.id).desc())
            .limit(1))
        events = session.scalars(select(AuditEvent).where(
            col(AuditEvent.object_type) == "mailbox", col(AuditEvent.object_id) == mb.address)
            .order_by(col(AuditEvent.id))).all()
        current = next((v.not_after for v in views if v.role is BindingRole.CURRENT), None)
        summary = MailboxSummary(mb.address, st.idnat, st.name, mb.application,
                                 MailboxEnvironment(mb.environment), MailboxStatus(mb.status),
                                 mb.days_left, current, mb.archived)
        last_json = None if last is None else {
            "status": last.status, "valid": last.valid, "checked_at": last.checked_at,
            "at": last.at, "findings": last.findings, "path": last.path,
            "certificate_id": last.certificate_id}
        return MailboxDetail(
            summary=summary, contacts=tuple(mb.contacts), department=st.department,
            created_at=mb.created_at, certificates=tuple(views), last_validation=last_json,
            events=tuple({"at": e.at, "actor": e.actor, "action": e.action,
                          "details": e.details} for e in events))


# ---------------------------------------------------------------------------- archive
def archive_mailbox(*, store: Store, address: str, at: dt.datetime, actor: str) -> bool:
    """Archive a mailbox (no longer scanned nor listed by default). False when it already
    was; NotFoundError when there is no such mailbox."""
    with store.transaction() as session:
        mb = _mailbox(session, address)
        if mb.archived:
            return False
        mb.archived = True
        mb.updated_at = at
        session.add(mb)
        append_event(session, actor=actor, action="mailbox.archive", at=at,
                     object_type="mailbox", object_id=mb.address,
                     details={"status": str(mb.status)})
        return True


# ---------------------------------------------------------------------------- CSV import
CSV_COLUMNS = ("address", "idnat", "organization", "department", "application", "contacts",
               "environment")
_REQUIRED = frozenset({"address", "idnat", "organization"})


@dataclass(frozen=True, slots=True)
class CsvRowOutcome:
    """One data row: `added` or rejected with `reason`. `line` is its first physical line."""

    line: int
    address: str
    added: bool
    reason: str | None = None
    structure_created: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "address": self.address,
                "status": "added" if self.added else "rejected", "reason": self.reason,
                "structure_created": self.structure_created}


@dataclass(frozen=True, slots=True)
class CsvImportReport:
    source: str
    encoding: str
    delimiter: str
    rows: tuple[CsvRowOutcome, ...]

    @property
    def added(self) -> int:
        return sum(r.added for r in self.rows)

    @property
    def rejected(self) -> int:
        return sum(not r.added for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.source, "encoding": self.encoding, "delimiter": self.delimiter,
                "added": self.added, "rejected": self.rejected,
                "rows": [r.to_json() for r in self.rows]}


def _decode(data: bytes, *, source: str) -> tuple[str, str]:
    """UTF-8 (a BOM is dropped), else Windows-1252: what Excel writes for "CSV (;)" on a
    French Windows. Bytes that are not text in either raise ParseError-like InputError."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        raise InputError("not a text file in UTF-8 or Windows-1252 (save the CSV as UTF-8)",
                         source=source) from None


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=";,").delimiter
    except csv.Error:
        return ";" if header.count(";") > header.count(",") else ","


def _header(fields: list[str], *, source: str) -> list[str]:
    names = [f.strip().lower().lstrip("\ufeff") for f in fields]
    unknown = [n for n in names if n not in CSV_COLUMNS]
    missing = sorted(_REQUIRED - set(names))
    if unknown or missing:
        raise InputError(
            "bad CSV header" + (f": unknown column(s) {', '.join(unknown)}" if unknown else "")
            + (f": missing column(s) {', '.join(missing)}" if missing else "")
            + f" (expected {', '.join(CSV_COLUMNS)})", source=f"{source}:1")
    return names


def _spec(row: dict[str, str]) -> MailboxSpec:
    env = (row.get("environment") or "").strip().lower() or "production"
    if env not in {e.value for e in MailboxEnvironment}:
        raise InputError(f"environment must be production or test, got {env!r}")
    return MailboxSpec(
        address=row.get("address", ""), idnat=row.get("idnat", ""),
        organization=row.get("organization", ""), department=row.get("department") or None,
        application=row.get("application", ""),
        contacts=tuple(c for c in (row.get("contacts") or "").split(";") if c.strip()),
        environment=MailboxEnvironment(env))


def import_mailboxes_csv(*, store: Store, path: Path, at: dt.datetime, actor: str,
                         force_idnat: bool = False) -> CsvImportReport:
    """Add the mailboxes of a CSV file; each data row is checked and written on its own.

    Header (first line, any order, case-insensitive): address, idnat, organization
    (required), department, application, contacts (`;`-separated inside the cell),
    environment (production by default). Delimiter `;` or `,`, sniffed from the header.
    Encoding: UTF-8 with or without BOM, else Windows-1252 (reported). A rejected row
    (bad value, duplicate address, wrong column count) is reported with its line number
    and reason; the other rows are still imported (one savepoint per row, one transaction
    for the file). An unreadable file or a bad header raises InputError (nothing imported).
    """
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=source) from None
    text, encoding = _decode(data, source=source)
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        names = _header(next(reader), source=source)
    except StopIteration:
        raise InputError("empty CSV file", source=source) from None
    outcomes: list[CsvRowOutcome] = []
    with store.transaction() as session:
        previous_end = reader.line_num
        for cells in _rows(reader):
            line, previous_end = previous_end + 1, reader.line_num
            if isinstance(cells, str):
                outcomes.append(CsvRowOutcome(line, "", added=False, reason=cells))
            elif any(c.strip() for c in cells):
                outcomes.append(_import_row(session, names, cells, line=line, at=at,
                                            actor=actor, force_idnat=force_idnat))
        append_event(session, actor=actor, action="mailbox.import", at=at, object_type="file",
                     object_id=path.name, details={"added": sum(o.added for o in outcomes),
                                                   "rejected": sum(not o.added for o in outcomes)})
    return CsvImportReport(source, encoding, delimiter, tuple(outcomes))


def _rows(reader: Iterator[list[str]]) -> Iterator[list[str] | str]:
    """The reader's rows; a row the csv module refuses (a NUL byte...) comes as its reason."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield f"malformed CSV: {exc}"


def _import_row(session: Session, names: list[str], cells: list[str], *, line: int,
                at: dt.datetime, actor: str, force_idnat: bool) -> CsvRowOutcome:
    row = dict(zip(names, cells, strict=False))
    address = row.get("address", "").strip()
    if len(cells) != len(names):
        return CsvRowOutcome(line, address, added=False,
                             reason=f"{len(cells)} cells, the header has {len(names)}")
    try:
        item = _check(_spec(row), force_idnat=force_idnat, source=None)
        with session.begin_nested():
            added = _add(session, item, at=at, actor=actor)
    except (InputError, ConflictError) as exc:
        return CsvRowOutcome(line, address, added=False, reason=str(exc))
    return CsvRowOutcome(line, added.address, added=True,
                         structure_created=added.structure_created)
