"""Benchmark `certmgr scan`: 10,000 mailboxes on a temporary SQLite file (target: <= 3 s).

    .venv/bin/python bench/scan_bench.py [--mailboxes 10000] [--runs 3] [--processes N]

Seeds a fresh SQLite database (migrated with Alembic) with structures, mailboxes, their
current certificates, a two-level CA and its CRLs, then runs `certmgr.services.scan.scan`
and prints the time of each phase (load, validate, write) and its share of the total.

The PKI is the benchmark's own (`OU=IGC-SANTE FIXTURE` DNs, so it classifies like the
test PKI and passes the ORG_AUTH_CLI profile): RSA-2048 CA keys and a pool of 8 leaf keys,
generated once and cached under bench/out/scan/ with the signed leaves, because signing
is not what is measured. The store's trust material is read by `row_trust` below (the CA
and CRL rows), the same inputs `certmgr.services.trustctx` hands to the scan.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import multiprocessing
import os
import random
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import insert
from sqlmodel import col, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from certmgr.config import Settings
from certmgr.pki.facts import certificate_facts
from certmgr.pki.findings import Finding
from certmgr.services.scan import scan
from certmgr.store.engine import make_engine
from certmgr.store.enums import BindingRole, MailboxEnvironment
from certmgr.store.migrate import upgrade
from certmgr.store.models import (
    Binding,
    CACertificate,
    Certificate,
    Crl,
    Mailbox,
    Structure,
)
from certmgr.store.rows import ca_certificate_row, certificate_row
from certmgr.store.session import open_store

AT = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
OUT = Path(__file__).resolve().parent / "out" / "scan"
_FORMAT = 1
_ROOT = "AC RACINE IGC-SANTE ELEMENTAIRE"
_INTER = "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
_CRL_URL = "http://igc-sante.esante.gouv.fr/CRL/FIXTURE/BENCH-ORG.crl"
_STRUCTURES = 100


def _name(cn: str, ou: str, o: str = "ASIP-SANTE", st: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")]
    if st:
        attrs.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, st))
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o),
              x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
              x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    return x509.Name(attrs)


def _siret(i: int) -> str:
    """A Luhn-valid 14-digit SIRET derived from `i`."""
    body = f"{100000000 + i:09d}0001"
    for d in "0123456789":
        candidate = body + d
        total = sum((int(c) * 2 - 9 if int(c) * 2 > 9 else int(c) * 2) if k % 2 else int(c)
                    for k, c in enumerate(reversed(candidate)))
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def _ca(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Name,
        issuer_key: rsa.RSAPrivateKey, *, root: bool) -> x509.Certificate:
    ku = x509.KeyUsage(digital_signature=False, content_commitment=False,
                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                       key_cert_sign=True, crl_sign=True, encipher_only=False,
                       decipher_only=False)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
         .not_valid_after(dt.datetime(2033, 1, 1, tzinfo=dt.UTC))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None if root else 0),
                        critical=True)
         .add_extension(ku, critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             issuer_key.public_key()), critical=False))
    return b.sign(issuer_key, hashes.SHA256())


_GEN: tuple[rsa.RSAPrivateKey, x509.Certificate, list[rsa.RSAPublicKey]] | None = None


def _leaf(i: int) -> bytes:
    assert _GEN is not None
    key, inter, pool = _GEN
    pub = pool[i % len(pool)]
    subject = _name(f"bal-{i:05d}", "3" + _siret(i % _STRUCTURES), o=f"CH BENCH {i % 100}",
                    st="Paris (75)")
    ku = x509.KeyUsage(digital_signature=True, content_commitment=False,
                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                       key_cert_sign=False, crl_sign=False, encipher_only=False,
                       decipher_only=False)
    days = 20 + (i * 37) % 1000  # spread over OK, RENEW_SOON and CRITICAL
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(inter.subject)
            .public_key(pub).serial_number(random.Random(i).getrandbits(126) | 1 << 125)
            .not_valid_before(AT - dt.timedelta(days=100))
            .not_valid_after(AT + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(ku, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                key.public_key()), critical=False)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(_CRL_URL)], None, None, None)]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def _crl(issuer: x509.Certificate, key: rsa.RSAPrivateKey, serials: list[int]) -> bytes:
    when = AT - dt.timedelta(days=30)
    revoked = [x509.RevokedCertificateBuilder().serial_number(s).revocation_date(when).build()
               for s in serials]
    crl = (x509.CertificateRevocationListBuilder(revoked_certificates=revoked)
           .issuer_name(issuer.subject).last_update(AT - dt.timedelta(hours=6))
           .next_update(AT + dt.timedelta(days=7))
           .add_extension(x509.CRLNumber(1), critical=False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
               key.public_key()), critical=False)
           .sign(key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Pki:
    root: bytes
    inter: bytes
    crls: tuple[bytes, bytes]
    leaves: list[bytes]


def _pack(items: list[bytes]) -> bytes:
    return b"".join(struct.pack(">I", len(d)) + d for d in items)


def _unpack(blob: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(blob):
        (n,) = struct.unpack_from(">I", blob, i)
        out.append(blob[i + 4 : i + 4 + n])
        i += 4 + n
    return out


def ensure_pki(n: int) -> Pki:
    """The CA pair, CRLs and `n` leaves, from bench/out/scan/ when made for the same `n`."""
    global _GEN  # noqa: PLW0603 - the forked signers read the CA key from here
    cache = OUT / f"pki-{_FORMAT}-{n}.bin"
    if cache.exists():
        root_der, inter_der, crl_der, arl_der, *leaf_ders = _unpack(cache.read_bytes())
        return Pki(root_der, inter_der, (crl_der, arl_der), leaf_ders)
    print(f"signing {n} leaves (cached in {OUT}) ...", flush=True)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = _name(_ROOT, "IGC-SANTE FIXTURE")
    inter_name = _name(_INTER, "IGC-SANTE FIXTURE")
    root = _ca(root_name, root_key, root_name, root_key, root=True)
    inter = _ca(inter_name, inter_key, root_name, root_key, root=False)
    pool = [rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
            for _ in range(8)]
    _GEN = (inter_key, inter, pool)
    try:
        with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as workers:
            leaves = workers.map(_leaf, range(n), chunksize=256)
    finally:
        _GEN = None
    revoked = [x509.load_der_x509_certificate(d).serial_number for d in leaves[:n:500]]
    crl = _crl(inter, inter_key, revoked)
    arl = _crl(root, root_key, [])
    der = serialization.Encoding.DER
    OUT.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(_pack([root.public_bytes(der), inter.public_bytes(der), crl, arl,
                             *leaves]))
    return Pki(root.public_bytes(der), inter.public_bytes(der), (crl, arl), leaves)


# ---------------------------------------------------------------------------- seed
def _row(model: Any) -> dict[str, Any]:
    return {k: v for k, v in model.model_dump().items() if k != "id"}


def seed(url: str, pki: Pki) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    with open_store(Settings(home=Path(tempfile.gettempdir()), db_url=url)) as store, \
            store.transaction() as session:
        for der, anchor in ((pki.root, True), (pki.inter, False)):
            facts = certificate_facts(x509.load_der_x509_certificate(der), der=der)
            session.add(ca_certificate_row(facts, der=der, is_anchor=anchor, source="bench"))
        for crl_der in pki.crls:
            crl = x509.load_der_x509_crl(crl_der)
            session.add(Crl(der=crl_der, fingerprint_sha256=hashlib.sha256(crl_der).hexdigest(),
                            issuer=crl.issuer.rfc4514_string(), crl_number=1,
                            this_update=crl.last_update_utc, next_update=crl.next_update_utc,
                            entries=len(crl), fetched_at=AT, verified=True, is_current=True))
        structures = [{"name": f"CH BENCH {i}", "idnat_kind": 3, "idnat_value": _siret(i),
                       "idnat": "3" + _siret(i), "department": "Paris (75)", "created_at": AT}
                      for i in range(_STRUCTURES)]
        session.execute(insert(Structure), structures)
        ids = _id_map(session, col(Structure.idnat), col(Structure.id))
        certs: list[dict[str, Any]] = [
            _row(certificate_row(certificate_facts(x509.load_der_x509_certificate(d), der=d),
                                 der=d, imported_at=AT)) for d in pki.leaves]
        session.execute(insert(Certificate), certs)
        cert_ids = _id_map(session, col(Certificate.fingerprint_sha256), col(Certificate.id))
        boxes: list[dict[str, Any]] = [{"address": f"bal-{i:05d}@ch-bench.mssante.fr",
                  "structure_id": ids["3" + _siret(i % _STRUCTURES)], "application": "DPI",
                  "contacts": [], "environment": MailboxEnvironment.PRODUCTION,
                  "created_at": AT, "updated_at": AT} for i in range(len(pki.leaves))]
        session.execute(insert(Mailbox), boxes)
        box_ids = _id_map(session, col(Mailbox.address), col(Mailbox.id))
        bindings = [{"mailbox_id": box_ids[b["address"]],
                     "certificate_id": cert_ids[c["fingerprint_sha256"]],
                     "role": BindingRole.CURRENT, "bound_at": AT}
                    for b, c in zip(boxes, certs, strict=True)]
        session.execute(insert(Binding), bindings)


def _id_map(session: Any, key: Any, ident: Any) -> dict[Any, int]:
    """`{key: id}` over a table. Rows, not `dict(result)`: a SQLAlchemy 2.1 result has
    `keys()` (its column names), so `dict()` would take it for a mapping."""
    return dict(session.execute(select(key, ident)).all())


@dataclass(frozen=True)
class RowTrust:
    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    crls: tuple[bytes, ...]
    trust_store_findings: tuple[Finding, ...] = ()


def row_trust(*, session: Any, environment: Any = None) -> RowTrust:
    """The CA and CRL rows of the store, as the scan's trust loader."""
    del environment
    cas = session.exec(select(CACertificate)).all()
    crls = session.exec(select(Crl.der).where(col(Crl.is_current).is_(True))).all()
    load = x509.load_der_x509_certificate
    return RowTrust(tuple(load(c.der) for c in cas if c.is_anchor),
                    tuple(load(c.der) for c in cas if not c.is_anchor), tuple(crls))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args()
    pki = ensure_pki(args.mailboxes)
    with tempfile.TemporaryDirectory(prefix="certmgr-scan-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        start = time.perf_counter()
        seed(url, pki)
        print(f"seeded {args.mailboxes} mailboxes in {time.perf_counter() - start:.1f} s "
              f"({os.cpu_count()} cores)")
        with open_store(Settings(home=Path(tmp), db_url=url)) as store:
            for run in range(1, args.runs + 1):
                start = time.perf_counter()
                report = scan(store=store, at=AT, actor="bench", trust_loader=row_trust,
                              processes=args.processes)
                total = time.perf_counter() - start
                phases = "  ".join(f"{k} {v:.2f}s ({v / total:.0%})"
                                   for k, v in report.timings.items())
                counts = ", ".join(f"{k} {v}" for k, v in report.counts.items() if v)
                verdict = "OK" if total <= 3.0 else "OVER the 3 s target"
                print(f"run {run}: {report.scanned} mailboxes in {total:.2f} s [{verdict}]  "
                      f"{phases}\n        {counts}")


if __name__ == "__main__":
    main()
