"""Helpers shared by the test folders: plain values and functions, no fixtures.

Each folder's conftest builds its fixtures from these (the shared *fixtures* live in
`tests/conftest.py`):

- the committed fixture PKI (`FIXED`, `require_fixed_pki`) and the names tests use with it;
- the real entry point run in-process (`cli_runner`, `Outcome`, `Invoke`);
- a fixture "ANS" that signs a CSR (`sign_auth_cli`);
- rows seeded straight into the tables (`seed_trust`, `bind`) or through the services
  (`seed_enrolment`);
- `sqlite_settings` for a home with its default SQLite file, `free_port` on loopback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlmodel import col, select

from certmgr.cli import run
from certmgr.config import Settings
from certmgr.pki.facts import certificate_facts
from certmgr.pki.load import load_bundle
from certmgr.services.importer import import_paths
from certmgr.services.mailboxes import MailboxSpec, add_mailbox
from certmgr.store.enums import BindingRole
from certmgr.store.models import Binding, Certificate, Crl, Mailbox
from certmgr.store.rows import ca_certificate_row, certificate_row
from certmgr.store.session import Store
from certmgr.testpki import FIXED_AT, PkiIndex, load_key, load_manifest
from certmgr.testpki.profiles import leaf_extensions

__all__ = [
    "ACTOR",
    "ADDRESS",
    "AT",
    "FIXED",
    "SIRET",
    "USABLE_CRLS",
    "Invoke",
    "Outcome",
    "bind",
    "cli_runner",
    "free_port",
    "leaf_der",
    "require_fixed_pki",
    "seed_enrolment",
    "seed_trust",
    "sign_auth_cli",
    "sqlite_settings",
]

FIXED = Path(__file__).resolve().parents[1] / "fixtures" / "pki" / "fixed"
"""The committed fixture PKI, built at `FIXED_AT` (`python fixtures/pki/generate.py` writes it)."""
AT = FIXED_AT
ACTOR = "tester"
ADDRESS = "bal.appli@ch-fixture.mssante.fr"
SIRET = "3" + "73282932000074"  # a SIRET that passes Luhn (INSEE's own)
USABLE_CRLS = frozenset({"current", "delta"})
"""The fixture CRL scenarios a validator may use (the others are stale, forged, ...)."""


def require_fixed_pki() -> Path:
    """`FIXED`, or `pytest.skip` when the fixture PKI has not been generated."""
    if not (FIXED / "index.json").is_file():
        pytest.skip("fixture PKI not generated")
    return FIXED


def sqlite_settings(home: Path, **extra: object) -> Settings:
    """The settings of `home` with its default SQLite file, whatever the environment says."""
    return Settings(home=home, db_url=f"sqlite:///{home / 'certmgr.sqlite3'}",
                    extra=dict(extra))


# ---------------------------------------------------------------------------- CLI
@dataclass(frozen=True)
class Outcome:
    """One in-process run of `certmgr`: its exit code and what it printed."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[dict[str, Any]]:
        """The records of a JSON-lines output (one object a line)."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def codes(self) -> set[str]:
        """The finding codes of a JSON report that has a `findings` list."""
        return {f["code"] for f in self.json()["findings"]}


Invoke = Callable[..., Outcome]


def cli_runner(capsys: pytest.CaptureFixture[str], *prefix: str | Path) -> Invoke:
    """`invoke(*args)` runs `certmgr PREFIX... ARGS...` through the real entry point
    (`certmgr.cli.run`) in this process and returns its `Outcome`; output printed before
    the call is discarded."""

    def invoke(*args: str | Path) -> Outcome:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            run([str(a) for a in (*prefix, *args)])
        captured = capsys.readouterr()
        code = info.value.code
        return Outcome(int(code) if isinstance(code, int) else 0, captured.out, captured.err)

    return invoke


# ---------------------------------------------------------------------------- fixture ANS
def sign_auth_cli(csr_pem: bytes, *, not_before: dt.datetime,
                  not_after: dt.datetime) -> x509.Certificate:
    """What ANS does with a CSR: an AUTH_CLI certificate for its subject and key, with the
    profile's extensions, signed by the fixture ACI-EL-ORG."""
    csr = x509.load_pem_x509_csr(csr_pem)
    manifest = load_manifest()
    issuer_key = load_key("ACI-EL-ORG")
    issuer = x509.load_pem_x509_certificate((FIXED / "ca" / "ACI-EL-ORG.pem").read_bytes())
    public_key = csr.public_key()
    exts = leaf_extensions(profile="AUTH_CLI", public_key=public_key,  # type: ignore[arg-type]
                           issuer_public_key=issuer_key.public_key(), issuer_name="ACI-EL-ORG",
                           issuer_subject=issuer.subject, subject=csr.subject,
                           policy=manifest.policies["AUTH_CLI"], not_before=not_before,
                           not_after=not_after, urls=manifest.urls)
    builder = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(issuer.subject)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after))
    for value, critical in exts:
        builder = builder.add_extension(value, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


# ---------------------------------------------------------------------------- seeding
def seed_enrolment(store: Store) -> None:
    """Through the services, at `AT`: the mailbox `ADDRESS` (structure `SIRET`), the fixture
    CAs and CRLs, and the fixture leaf el-org-auth-valid bound to the mailbox."""
    add_mailbox(store=store, spec=MailboxSpec(address=ADDRESS, idnat=SIRET,
                organization="Centre Hospitalier Fixture", department="75"),
                at=AT, actor=ACTOR)
    import_paths(store=store, paths=[FIXED / "ca", FIXED / "crl"], at=AT, actor=ACTOR)
    import_paths(store=store, paths=[FIXED / "leaves" / "el-org-auth-valid.pem"], at=AT,
                 actor=ACTOR, mailbox=ADDRESS)


def seed_trust(store: Store, pki: PkiIndex, *, crl_scenarios: frozenset[str] = USABLE_CRLS,
               source: str = "test") -> None:
    """The trusted fixture CAs and the CRLs of `crl_scenarios` (current, verified, fetched
    at `AT`), straight into the tables."""
    with store.transaction() as session:
        for ca in pki.of_kind("ca"):
            if not ca.trusted:
                continue
            der = pki.path(ca.name, "der").read_bytes()
            facts = certificate_facts(x509.load_der_x509_certificate(der), der=der)
            session.add(ca_certificate_row(facts, der=der, is_anchor=ca.issuer == ca.name,
                                           source=source))
        for crl in pki.of_kind("crl"):
            if crl.scenario not in crl_scenarios:
                continue
            der = pki.path(crl.name, "der").read_bytes()
            parsed = x509.load_der_x509_crl(der)
            assert crl.this_update is not None
            aki = parsed.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
            key_id = aki.value.key_identifier
            session.add(Crl(
                der=der, fingerprint_sha256=hashlib.sha256(der).hexdigest(),
                issuer=parsed.issuer.rfc4514_string(), aki=None if key_id is None
                else key_id.hex().upper(), crl_number=crl.crl_number,
                this_update=crl.this_update, next_update=crl.next_update,
                is_delta=crl.scenario == "delta", entries=len(crl.revoked), source=source,
                fetched_at=AT, verified=True, is_current=True))


def leaf_der(pki: PkiIndex, name: str) -> bytes:
    """The DER of the fixture certificate `name` (its first certificate)."""
    pem = pki.path(name, "pem").read_bytes()
    return load_bundle(pem, source=name).certificates[0].der


def bind(store: Store, address: str, leaf: str | bytes, pki: PkiIndex | None = None, *,
         role: BindingRole = BindingRole.CURRENT, source: str = "test") -> int:
    """Store the leaf (a fixture name, with `pki`, or DER) unless it is there, and bind it
    to the mailbox `address` with `role` at `AT`; the certificate's id."""
    if isinstance(leaf, bytes):
        der = leaf
    else:
        assert pki is not None, "a fixture leaf name needs the PKI index"
        der = leaf_der(pki, leaf)
    facts = certificate_facts(x509.load_der_x509_certificate(der), der=der)
    with store.transaction() as session:
        cert = session.scalars(select(Certificate).where(
            col(Certificate.fingerprint_sha256) == facts.fingerprint_sha256)).first()
        if cert is None:
            cert = certificate_row(facts, der=der, imported_at=AT, source=source)
            session.add(cert)
            session.flush()
        mailbox = session.scalars(select(Mailbox).where(col(Mailbox.address) == address)).one()
        assert cert.id is not None
        assert mailbox.id is not None
        session.add(Binding(mailbox_id=mailbox.id, certificate_id=cert.id, role=role,
                            bound_at=AT))
        return int(cert.id)


# ---------------------------------------------------------------------------- network
def free_port() -> int:
    """A loopback TCP port that was free a moment ago (nobody listens on it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
