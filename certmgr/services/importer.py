"""`certmgr import`: files and directories of certificates, chains, PKCS#7, PKCS#12 and CRLs.

Every path is a file or a directory walked recursively (hidden names skipped, sorted).
Each file is read (10 MiB cap, checked on its size before reading), loaded whatever its
encoding (`certmgr.pki.load`) and stored in ONE transaction of its own:
- CA certificates go to the CA store (`certmgr.services.trust.store_ca`: pins checked,
  impostors refused and reported, never stored);
- leaves go to the inventory (one row per SHA-256 fingerprint: importing twice changes
  nothing) and are bound to `mailbox` or to the mailboxes the binding rules name
  (`certmgr.services.binding`);
- CRLs go to the CRL store (`certmgr.services.crls.store_crl`). A CRL whose issuer CA
  comes in a later file of the same run is checked again at the end of the run.
- the private key of a PKCS#12, when `keys` is given and the key belongs to one of the
  file's certificates, is kept like a key `csr new` made (`certmgr.services.intake`:
  file first, encrypted under the key passphrase, then its row in the file's
  transaction, before the certificates, which then match it like any issued
  certificate). Without `keys`, and for PEM keys, the report says "private key ignored".
A file that cannot be read or holds nothing usable is rejected with a one-line
reason; the other files go on. With `stop_on_wrong_passphrase`, every PKCS#12 is opened
before anything is stored, and one the passphrase does not open raises PassphraseError
naming it: nothing is written. Lock conflicts and a concurrent importer inserting the
same row are retried (the retry then sees the row as known).

With `revalidate` (what `certmgr import` and the console ask for), the mailboxes that
got a new CURRENT certificate are re-validated at the end of the run
(`certmgr.services.scan.revalidate_mailboxes`, one transaction): their status is the
scan's verdict at once, not NO_CERTIFICATE (or the old certificate's) until the next
scan. A renewal that becomes ACTIVE re-validates its mailbox in any case.

Crash safety: a file's rows (key, certificates, bindings, CAs, CRLs, renewal moves,
audit events) are one transaction, so a SIGKILL leaves all of them or none; a PKCS#12's
key file is written (atomically) before that transaction, so a kill leaves at worst a
complete key file no row refers to (the next import of the file reuses it). Fault points:
`import:p12-after-keyfile`, `import:p12-after-keyrow`, `import:before-commit`,
`import:after-commit`.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import col, select

from certmgr.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    PassphraseError,
    StoreError,
)
from certmgr.pki.facts import CertFacts, certificate_facts
from certmgr.pki.keys import spki_sha256
from certmgr.pki.load import (
    MAX_INPUT_BYTES,
    Bundle,
    BundleKind,
    load_bundle,
    looks_like_pkcs12,
    read_input,
)
from certmgr.services.binding import (
    BindingRules,
    BindOutcome,
    bind_certificate,
    find_mailboxes,
)
from certmgr.services.crls import CrlOutcome, reverify, store_crl
from certmgr.services.intake import (
    HeldKey,
    IntakeOutcome,
    KeyIntake,
    known_key,
    match_issued_certificate,
    record_key,
    write_key_file,
)
from certmgr.services.scan import IMPORT_TRIGGER, revalidate_mailboxes
from certmgr.services.trust import CaOutcome, store_ca
from certmgr.store.audit import append_event
from certmgr.store.engine import is_retryable, run_in_transaction
from certmgr.store.enums import BindingRole
from certmgr.store.keyfiles import fault
from certmgr.store.models import Certificate, Mailbox
from certmgr.store.rows import certificate_row

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.pki.load import LoadedCertificate, LoadedKey
    from certmgr.services.status import Thresholds
    from certmgr.store.session import Store

__all__ = [
    "ALL_KINDS",
    "FileReport",
    "ImportReport",
    "KeyOutcome",
    "LeafOutcome",
    "collect_files",
    "has_pkcs12",
    "import_paths",
]

ALL_KINDS = frozenset({"leaf", "ca", "crl"})
_ATTEMPTS = 4
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class LeafOutcome:
    fingerprint: str
    subject: str
    status: str  # added | known
    bindings: tuple[BindOutcome, ...] = ()
    match: IntakeOutcome | None = None
    """Our private key and renewal for it (`certmgr.services.renewal`), or "no private key"."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": "certificate", "fingerprint": self.fingerprint,
                "subject": self.subject, "status": self.status,
                "bindings": [b.to_json() for b in self.bindings],
                "key": None if self.match is None else self.match.to_json()}


@dataclass(frozen=True, slots=True)
class KeyOutcome:
    """The private key of a PKCS#12 kept here: `added` (new row) or `known`."""

    spki_sha256: str
    path: str
    status: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": "private-key", "spki_sha256": self.spki_sha256, "path": self.path,
                "status": self.status}


Item = LeafOutcome | CaOutcome | CrlOutcome | KeyOutcome


@dataclass(frozen=True, slots=True)
class FileReport:
    """The outcome of one file. `status`: added (something new was stored or bound),
    known (everything was already there) or rejected (`error`, or a refused CA)."""

    path: str
    items: tuple[Item, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None

    @property
    def refused(self) -> tuple[CaOutcome, ...]:
        return tuple(i for i in self.items if isinstance(i, CaOutcome) and i.status == "refused")

    @property
    def rejected(self) -> bool:
        return self.error is not None or bool(self.refused)

    def added(self) -> dict[str, int]:
        """Items added per kind (certificates, cas, crls)."""
        kinds = {"certificates": LeafOutcome, "cas": CaOutcome, "crls": CrlOutcome}
        return {name: sum(1 for i in self.items if isinstance(i, cls) and i.status == "added")
                for name, cls in kinds.items()}

    @property
    def known(self) -> int:
        return sum(1 for i in self.items if i.status == "known")

    @property
    def bound(self) -> tuple[BindOutcome, ...]:
        return tuple(b for i in self.items if isinstance(i, LeafOutcome) for b in i.bindings
                     if b.role is not None)

    @property
    def status(self) -> str:
        if self.rejected:
            return "rejected"
        changed = any(self.added().values()) or self.bound or any(
            i.status == "verified" or (isinstance(i, KeyOutcome) and i.status == "added")
            for i in self.items)
        return "added" if changed else "known"

    def to_json(self) -> dict[str, Any]:
        reason = self.error or "; ".join(
            o.finding.message for o in self.refused if o.finding is not None) or None
        return {"file": self.path, "status": self.status, "added": self.added(),
                "known": self.known, "bound": [b.to_json() for b in self.bound],
                "rejected": reason, "notes": list(self.notes),
                "items": [i.to_json() for i in self.items]}


@dataclass(frozen=True, slots=True)
class ImportReport:
    at: dt.datetime
    files: tuple[FileReport, ...]

    @property
    def ok(self) -> bool:
        return not any(f.rejected for f in self.files)

    def totals(self) -> dict[str, int]:
        out = {"files": len(self.files), "rejected": sum(f.rejected for f in self.files)}
        for f in self.files:
            for kind, n in f.added().items():
                out[kind] = out.get(kind, 0) + n
        return out

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "ok": self.ok, "totals": self.totals(),
                "files": [f.to_json() for f in self.files]}


# ---------------------------------------------------------------------------- files
def _precheck(path: Path) -> str | None:
    """Why `path` cannot be imported without opening it, or None."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "dangling symbolic link" if path.is_symlink() else "no such file or directory"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return None
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block the reader; a device never ends
        return "not a regular file"
    if info.st_size > MAX_INPUT_BYTES:
        return f"larger than the {MAX_INPUT_BYTES} bytes accepted"
    return None


def collect_files(paths: Sequence[Path]) -> list[tuple[Path, str | None]]:
    """The files to import under `paths`, each with the reason it is refused up front."""
    out: list[tuple[Path, str | None]] = []
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        child = Path(root) / name
                        out.append((child, _precheck(child)))
        else:
            out.append((path, _precheck(path)))
    return out


def _sniff_pkcs12(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return looks_like_pkcs12(handle.read(16))
    except OSError:
        return False  # the import reports it


def has_pkcs12(paths: Sequence[Path]) -> bool:
    """True when a PKCS#12 is among the files under `paths` (from their first bytes): the
    CLI asks for a passphrase only then."""
    return any(refusal is None and _sniff_pkcs12(path)
               for path, refusal in collect_files(paths))


# ---------------------------------------------------------------------------- store
@dataclass(slots=True)
class _Run:
    at: dt.datetime
    actor: str
    accept: frozenset[str]
    passphrase: bytes | None
    rules: BindingRules
    mailbox: str | None
    keys: KeyIntake | None = None
    thresholds: Thresholds | None = None
    cas_added: int = 0
    unverified: dict[str, int] = field(default_factory=dict)  # CRL fingerprint -> file index
    opened: dict[Path, Bundle] = field(default_factory=dict)  # PKCS#12 opened up front


def _open_pkcs12(files: list[tuple[Path, str | None]], run: _Run) -> None:
    """Open every PKCS#12 among `files` before anything is stored (kept in `run.opened`);
    PassphraseError naming the first one the passphrase does not open."""
    for path, refusal in files:
        if refusal is not None or not _sniff_pkcs12(path):
            continue
        try:
            run.opened[path] = load_bundle(read_input(path), source=str(path),
                                           passphrase=run.passphrase)
        except PassphraseError:
            raise
        except InputError:
            continue  # damaged: the import rejects it with the same reason


def _own_key(match: IntakeOutcome, bindings: tuple[BindOutcome, ...]) -> IntakeOutcome:
    """`match` (our key, no renewal) for a leaf whose private key came in its own file:
    what happened, said plainly (the key kept, the mailbox it serves, or none)."""
    if not bindings:
        where = ("bound to no mailbox (import it again with --mailbox ADDRESS, or add a "
                 "binding rule)")
    else:
        where = ", ".join(f"already bound to {b.address}" if b.role is None
                          else f"{b.role} certificate of {b.address}" for b in bindings)
    return replace(match, reason=f"came with its private key, both kept here: {where}")


def _store_leaf(session: Session, item: LoadedCertificate, facts: CertFacts, *, source: str,
                run: _Run, file_key: str | None) -> LeafOutcome:
    row = session.scalars(select(Certificate).where(
        col(Certificate.fingerprint_sha256) == facts.fingerprint_sha256)).first()
    status = "known"
    if row is None:
        status = "added"
        row = certificate_row(facts, der=item.der, imported_at=run.at, source=source)
        session.add(row)
        session.flush()
        append_event(session, actor=run.actor, action="certificate.imported", at=run.at,
                     object_type="certificate", object_id=facts.fingerprint_sha256,
                     details={"subject": facts.subject, "not_after": facts.not_after.isoformat(),
                              "source": source})
    addresses = (run.mailbox,) if run.mailbox else run.rules.addresses(facts)
    bindings = tuple(bind_certificate(session, mailbox=m, certificate=row, at=run.at,
                                      actor=run.actor, source=source)
                     for m in find_mailboxes(session, addresses))
    # Issue 5: a certificate for one of our keys completes (and may activate) its renewal.
    match = match_issued_certificate(session=session, certificate_row=row, at=run.at,
                                     actor=run.actor, thresholds=run.thresholds)
    if match.status == "key-only" and match.renewal_id is None and file_key == row.spki_sha256:
        match = _own_key(match, bindings)
    return LeafOutcome(facts.fingerprint_sha256, facts.subject, status, bindings, match)


def _apply(session: Session, bundle: Bundle, *, run: _Run,
           file_key: str | None = None) -> list[Item]:
    """Store what `bundle` holds; `file_key`: the SPKI SHA-256 of the private key the file
    came with (kept just before, in the same transaction)."""
    source = bundle.source
    certs = [(c, certificate_facts(c.certificate, der=c.der)) for c in bundle.certificates]
    items: list[Item] = []
    if "ca" in run.accept:
        # CAs first: a CRL or leaf later in the same file can use them.
        for item, facts in certs:
            if facts.is_ca or "leaf" not in run.accept:
                items.append(store_ca(session, item, source=source, at=run.at, actor=run.actor))
    if "leaf" in run.accept:
        items += [_store_leaf(session, item, facts, source=source, run=run, file_key=file_key)
                  for item, facts in certs if not facts.is_ca]
    if "crl" in run.accept:
        items += [store_crl(session, c, source=source, at=run.at, actor=run.actor)
                  for c in bundle.crls]
    return items


def _key_to_keep(bundle: Bundle, run: _Run) -> tuple[LoadedKey | None, str | None]:
    """The PKCS#12 key to keep here, or None and why it is ignored (None: no key)."""
    if not bundle.keys:
        return None, None
    if run.keys is None or "leaf" not in run.accept or bundle.kind is not BundleKind.PKCS12:
        return None, "private key ignored"
    (loaded,) = bundle.keys  # a PKCS#12 holds at most one key (cryptography's loader)
    if not isinstance(loaded.key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return None, f"private key ignored: {type(loaded.key).__name__} is not supported"
    spki = spki_sha256(loaded.key.public_key())
    if all(spki_sha256(c.certificate.public_key()) != spki for c in bundle.certificates):
        return None, "private key ignored: it belongs to no certificate of the file"
    return loaded, None


def _hold_key(store: Store, loaded: LoadedKey, *, run: _Run) -> HeldKey:
    """Step 1 of keeping a PKCS#12 key: its file, durable, before the transaction."""
    assert run.keys is not None
    with store.sessions() as session:
        known = known_key(session, spki_sha256(loaded.key.public_key()))
    return write_key_file(run.keys, loaded, known=known)


def _key_note(outcome: KeyOutcome) -> str:
    if outcome.status == "added":
        return f"private key stored in {outcome.path}"
    return "private key already held here"


def _notes(bundle: Bundle, accept: frozenset[str]) -> list[str]:
    notes: list[str] = []
    if bundle.csrs:
        notes.append("certificate request ignored")
    if bundle.certificates and not accept & {"ca", "leaf"}:
        notes.append(f"{len(bundle.certificates)} certificate(s) ignored")
    if bundle.crls and "crl" not in accept:
        notes.append(f"{len(bundle.crls)} CRL(s) ignored")
    return notes


def _import_file(store: Store, path: Path, refusal: str | None, *, run: _Run) -> FileReport:
    source = str(path)
    if refusal is not None:
        return FileReport(source, error=f"{source}: {refusal}")
    try:
        bundle = run.opened.pop(path, None) or load_bundle(read_input(path), source=source,
                                                          passphrase=run.passphrase)
    except InputError as exc:
        return FileReport(source, error=str(exc))
    key, ignored = _key_to_keep(bundle, run)
    notes = tuple(_notes(bundle, run.accept)) + ((ignored,) if ignored else ())
    wanted = (bundle.certificates if run.accept & {"ca", "leaf"} else ()) + (
        bundle.crls if "crl" in run.accept else ())
    if not wanted:
        what = "CRL" if run.accept == {"crl"} else "certificate or CRL"
        return FileReport(source, notes=notes, error=f"{source}: holds no {what}")
    try:
        held = None if key is None else _hold_key(store, key, run=run)
    except (InputError, StoreError) as exc:  # no key file: nothing of the file is stored
        return FileReport(source, notes=notes, error=f"{source}: private key not kept: {exc}")
    for attempt in range(_ATTEMPTS):
        try:
            with store.transaction() as session:
                items: list[Item] = []
                if held is not None:  # first: the file's certificates match the key
                    added = record_key(session, held, at=run.at, actor=run.actor,
                                       source=source)
                    items.append(KeyOutcome(held.spki_sha256, held.path,
                                            "added" if added else "known"))
                items += _apply(session, bundle, run=run,
                                file_key=None if held is None else held.spki_sha256)
                fault("import:before-commit")  # every row of the file flushed, none committed
            fault("import:after-commit")
            break
        except IntegrityError:  # a concurrent importer stored the same row first
            if attempt + 1 == _ATTEMPTS:
                raise
        except DBAPIError as exc:
            if not is_retryable(exc) or attempt + 1 == _ATTEMPTS:
                raise
    # "no private key here" stays in each item's `key` (JSON): a plain inventory import
    # of other people's certificates is the common case and should not be noisy.
    notes += tuple(_key_note(i) for i in items if isinstance(i, KeyOutcome))
    notes += tuple(i.match.note for i in items if isinstance(i, LeafOutcome) and i.match
                   and i.match.status != "no-key")
    return FileReport(source, tuple(items), notes)


def _mailbox_address(store: Store, address: str) -> str:
    wanted = address.strip().lower()
    with store.sessions() as session:
        mailbox = session.scalars(select(Mailbox).where(col(Mailbox.address) == wanted)).first()
    if mailbox is None:
        raise NotFoundError(f"no mailbox {wanted} (add it first: certmgr mailbox add)")
    if mailbox.archived:
        raise ConflictError(f"mailbox {wanted} is archived")
    return wanted


def _reverify(store: Store, reports: list[FileReport], run: _Run) -> None:
    """Check again the CRLs left unverified when their issuer came in a later file."""
    if not run.cas_added or not run.unverified:
        return
    with store.transaction() as session:
        outcomes = reverify(session, list(run.unverified), at=run.at, actor=run.actor)
    for outcome in outcomes:
        index = run.unverified[outcome.fingerprint]
        report = reports[index]
        items = tuple(outcome if isinstance(i, CrlOutcome) and i.fingerprint ==
                      outcome.fingerprint else i for i in report.items)
        reports[index] = FileReport(report.path, items, report.notes, report.error)


def _revalidate_bound(store: Store, reports: list[FileReport], run: _Run) -> None:
    """Re-validate (the scan's rules) the mailboxes that got a new CURRENT certificate in
    this run, so that `status`, `report` and `mailbox show` reflect it at once; a binding
    that came with its renewal's activation was re-validated then, and is left out."""
    bound: set[str] = set()
    for report in reports:
        for item in report.items:
            if not isinstance(item, LeafOutcome):
                continue
            done = (item.match.address if item.match is not None
                    and item.match.status == "active" else None)
            bound |= {b.address for b in item.bindings
                      if b.role is BindingRole.CURRENT and b.address != done}
    if not bound:
        return

    def work(session: Session) -> None:
        revalidate_mailboxes(session, addresses=sorted(bound), at=run.at, actor=run.actor,
                             reason="new current certificate imported",
                             trigger=IMPORT_TRIGGER, thresholds=run.thresholds)

    run_in_transaction(store.sessions, work)  # again after a lock conflict (two importers)


def import_paths(*, store: Store, paths: Sequence[Path], at: dt.datetime, actor: str,
                 mailbox: str | None = None, passphrase: bytes | None = None,
                 rules: BindingRules | None = None, accept: frozenset[str] = ALL_KINDS,
                 progress: Progress | None = None, keys: KeyIntake | None = None,
                 stop_on_wrong_passphrase: bool = False,
                 thresholds: Thresholds | None = None, revalidate: bool = False,
                 ) -> ImportReport:
    """Import every file under `paths` (see the module docstring); `accept` narrows the
    kinds stored ("leaf", "ca", "crl"; `trust import` passes {"ca"}, `crl import` {"crl"}).
    `passphrase` opens PKCS#12 files; `keys` keeps their private keys; `thresholds`
    (config's) rate the mailboxes re-validated: a renewal's on ACTIVE, always; with
    `revalidate` (the CLI and the console ask for it), also every mailbox given a new
    current certificate (see the module docstring), else left to the next scan.

    Raises NotFoundError / ConflictError for an unknown or archived `mailbox` and, with
    `stop_on_wrong_passphrase`, PassphraseError for a PKCS#12 `passphrase` does not open
    (both before anything is imported), StoreError when the database fails; file
    problems are values.
    """
    run = _Run(at=at, actor=actor, accept=accept, passphrase=passphrase,
               rules=rules or BindingRules(), mailbox=None, keys=keys, thresholds=thresholds)
    if mailbox is not None:
        run.mailbox = _mailbox_address(store, mailbox)
    files = collect_files(paths)
    if stop_on_wrong_passphrase:
        _open_pkcs12(files, run)
    reports: list[FileReport] = []
    for done, (path, refusal) in enumerate(files, start=1):
        try:
            report = _import_file(store, path, refusal, run=run)
        except (DBAPIError, StoreError) as exc:
            report = FileReport(str(path), error=f"{path}: database error: "
                                f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        for item in report.items:
            if isinstance(item, CaOutcome) and item.status == "added":
                run.cas_added += 1
            elif isinstance(item, CrlOutcome) and not item.verified:
                run.unverified[item.fingerprint] = len(reports)
        reports.append(report)
        if progress is not None:
            progress(done, len(files))
    _reverify(store, reports, run)
    if revalidate:
        _revalidate_bound(store, reports, run)
    return ImportReport(at=at, files=tuple(reports))
