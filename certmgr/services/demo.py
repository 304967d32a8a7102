"""The demo: a fresh IGC Santé look-alike PKI relative to now, and what certmgr makes of it.

Everything happens under `<home>/demo/`; nothing reaches the network. The PKI is the project's
test PKI (`certmgr.testpki`, marked `OU=IGC-SANTE FIXTURE` so it can never pass for
production), built at `at`, so that its expiring certificates really expire in N days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from textwrap import shorten
from typing import Any

from cryptography import x509

from certmgr.config import Settings
from certmgr.errors import ConflictError, InputError
from certmgr.pki.departments import parse_state
from certmgr.pki.facts import certificate_facts
from certmgr.pki.findings import Severity
from certmgr.services.importer import FileReport, import_paths
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.services.scan import scan
from certmgr.services.verify import VerifyReport, VerifyRequest, verify_files
from certmgr.store.session import Store
from certmgr.testpki import PkiIndex, build_pki

__all__ = [
    "DEMO_DOMAIN",
    "DemoInventory",
    "DemoLeaf",
    "DemoReport",
    "build_demo_pki",
    "demo_pki_dir",
    "demo_settings",
    "seed_demo_inventory",
    "verify_demo_pki",
]

# CRL scenarios a well-run operator would hold: the current CRLs and ARLs and the delta.
_USABLE_CRL_SCENARIOS = frozenset({"current", "delta"})


@dataclass(frozen=True, slots=True)
class DemoLeaf:
    """One scenario certificate of the demo PKI and certmgr's verdict on it."""

    name: str
    scenario: str
    description: str
    valid: bool
    codes: tuple[str, ...]
    days_left: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scenario": self.scenario,
            "description": self.description,
            "valid": self.valid,
            "codes": list(self.codes),
            "days_left": self.days_left,
        }


@dataclass(frozen=True, slots=True)
class DemoReport:
    pki_dir: Path
    at: dt.datetime
    leaves: tuple[DemoLeaf, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "pki_dir": str(self.pki_dir),
            "at": self.at,
            "leaves": [leaf.to_json() for leaf in self.leaves],
        }


def demo_pki_dir(home: Path) -> Path:
    return home / "demo" / "pki"


def build_demo_pki(*, home: Path, at: dt.datetime) -> PkiIndex:
    """Build (or rebuild) the demo PKI at instant `at` under `<home>/demo/pki`."""
    out = demo_pki_dir(home)
    out.mkdir(parents=True, exist_ok=True)
    return build_pki(out_dir=out, at=at)


def verify_demo_pki(index: PkiIndex, *, at: dt.datetime) -> DemoReport:
    """Validate every scenario leaf of `index` as certmgr verify would, profile mailbox."""
    leaves = index.of_kind("leaf")
    anchors = index.trust_anchors()
    anchor_names = {a.name for a in anchors}
    request = VerifyRequest(
        certificates=tuple(index.path(leaf.name, "pem") for leaf in leaves),
        trust=tuple(index.path(a.name, "pem") for a in anchors),
        untrusted=tuple(index.path(c.name, "pem") for c in index.of_kind("ca")
                        if c.name not in anchor_names),
        crls=tuple(index.path(c.name) for c in index.of_kind("crl")
                   if c.scenario in _USABLE_CRL_SCENARIOS),
        profile="mailbox",
        accept_stale_crl=True,
        processes=1,
    )
    report = verify_files(request, at=at)
    return DemoReport(pki_dir=index.out_dir, at=report.at,
                      leaves=tuple(_demo_leaves(index, report)))


def _demo_leaves(index: PkiIndex, report: VerifyReport) -> list[DemoLeaf]:
    by_source = {v.source: v for v in report.verdicts}
    out: list[DemoLeaf] = []
    for leaf in index.of_kind("leaf"):
        verdict = by_source.get(str(index.path(leaf.name, "pem")))
        if verdict is None:
            continue
        codes = tuple(dict.fromkeys(
            str(f.code) for f in verdict.findings if f.severity >= Severity.WARNING
        ))
        days = None
        if leaf.not_after is not None:
            days = int((leaf.not_after - report.at).total_seconds() // 86400)
        out.append(DemoLeaf(leaf.name, leaf.scenario, leaf.description, verdict.valid, codes,
                            days))
    return out


# ---------------------------------------------------------------- demo inventory

DEMO_DOMAIN = "demo.mssante.fixture"
"""Mailbox addresses of the demo live under this domain (never a real MSSanté domain)."""
_NO_CERTIFICATE = ("nouvelle-application", "laboratoire-en-attente", "pharmacie-projet")


@dataclass(frozen=True, slots=True)
class DemoInventory:
    """What seeding the demo inventory did."""

    mailboxes: int
    certificates: int
    cas: int
    crls: int
    refused: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"mailboxes": self.mailboxes, "certificates": self.certificates,
                "cas": self.cas, "crls": self.crls, "refused": list(self.refused)}


def demo_settings(settings: Settings) -> Settings:
    """The demo's own sandbox: `<home>/demo` with its own SQLite database."""
    home = settings.home / "demo"
    return replace(settings, home=home, db_url=f"sqlite:///{home / 'certmgr.sqlite3'}")


def seed_demo_inventory(*, store: Store, index: PkiIndex, at: dt.datetime,
                        actor: str) -> DemoInventory:
    """Fill an empty store from the demo PKI: its CAs and CRLs, one mailbox per scenario
    certificate (bound to it), a few mailboxes still without a certificate; then scan.

    Mailboxes span the structures of the fixture leaves (FINESS, SIREN, SIRET, RPPS), so
    the inventory holds every status: OK, RENEW_SOON, CRITICAL, EXPIRED, REVOKED, INVALID,
    NO_CERTIFICATE.
    """
    cas = [index.path(a.name, "pem") for a in index.of_kind("ca")]
    crls = [index.path(c.name) for c in index.of_kind("crl")
            if c.scenario in _USABLE_CRL_SCENARIOS]
    ca_report = import_paths(store=store, paths=cas, at=at, actor=actor,
                             accept=frozenset({"ca"}))
    crl_report = import_paths(store=store, paths=crls, at=at, actor=actor,
                              accept=frozenset({"crl"}))
    refused = [f"{Path(f.path).name}: {_why(f)}"
               for f in (*ca_report.files, *crl_report.files) if f.rejected]
    mailboxes = certificates = 0
    first_idnat: tuple[str, str, str | None] | None = None
    for leaf in index.of_kind("leaf"):
        path = index.path(leaf.name, "pem")
        facts = certificate_facts(x509.load_pem_x509_certificate(path.read_bytes()))
        idnat = facts.org_unit or ""
        organization = facts.organization or "STRUCTURE FIXTURE"
        department = parse_state(facts.state or "")
        if first_idnat is None and facts.idnat is not None and facts.idnat.check_digit_ok:
            first_idnat = (idnat, organization, department)
        address = f"{leaf.name}@{DEMO_DOMAIN}"
        try:
            add_mailbox(store=store, at=at, actor=actor, force_idnat=True, spec=MailboxSpec(
                address=address, idnat=idnat, organization=organization,
                department=department, application=shorten(leaf.description, 60, placeholder="…"),
                contacts=(f"admin@{DEMO_DOMAIN}",)))
        except (InputError, ConflictError) as exc:
            refused.append(f"{leaf.name}: {exc}")
            continue
        mailboxes += 1
        report = import_paths(store=store, paths=[path], at=at, actor=actor, mailbox=address)
        certificates += sum(1 for f in report.files if not f.rejected)
    if first_idnat is not None:
        idnat, organization, department = first_idnat
        for name in _NO_CERTIFICATE:
            add_mailbox(store=store, at=at, actor=actor, spec=MailboxSpec(
                address=f"{name}@{DEMO_DOMAIN}", idnat=idnat, organization=organization,
                department=department, application=name))
            mailboxes += 1
    scan(store=store, at=at, actor=actor, processes=1)
    return DemoInventory(mailboxes=mailboxes, certificates=certificates,
                         cas=ca_report.totals().get("cas", 0),
                         crls=crl_report.totals().get("crls", 0), refused=tuple(refused))


def _why(report: FileReport) -> str:
    if report.error:
        return report.error
    codes = [str(o.finding.code) for o in report.refused if o.finding is not None]
    return ", ".join(codes) or "refused"
