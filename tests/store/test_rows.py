"""CertFacts to rows: every fact lands in a column and comes back unchanged."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certmgr.pki.facts import CertFacts, certificate_facts
from certmgr.store.engine import SessionFactory, transaction
from certmgr.store.models import CACertificate, Certificate
from certmgr.store.rows import ca_certificate_row, certificate_row
from certmgr.store.testing import T0

SHARED = Path("/work/shared/igc-sante")

# fact -> column; a new CertFacts field fails test_every_fact_is_mapped until decided here.
COLUMNS = {
    "fingerprint_sha256": "fingerprint_sha256", "spki_sha256": "spki_sha256",
    "subject": "subject", "issuer": "issuer", "country": "c", "state": "st",
    "organization": "o", "org_unit": "ou", "common_name": "cn", "not_before": "not_before",
    "not_after": "not_after", "key_type": "key_type", "key_size": "key_size",
    "signature_algorithm": "signature_algorithm", "signature_hash": "signature_hash",
    "key_usage": "key_usage", "extended_key_usage": "eku", "policies": "policies",
    "crl_urls": "crl_urls", "ocsp_urls": "ocsp_urls", "ca_issuer_urls": "ca_issuer_urls",
    "san": "san", "is_ca": "is_ca", "path_len": "path_len", "ski": "ski", "aki": "aki",
    "self_issued": "self_issued", "environment": "environment", "gamme": "gamme",
    "domain": "domain", "product": "product", "legacy_gip_cps": "legacy_gip_cps",
    "idnat": "idnat", "serial": "serial_hex",
}
NOT_STORED = {"org_units", "critical_extensions", "parse_errors"}  # re-read from `der`


def _load(path: Path) -> tuple[bytes, x509.Certificate]:
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    data = path.read_bytes()
    cert = (x509.load_pem_x509_certificate(data) if data.lstrip().startswith(b"-----")
            else x509.load_der_x509_certificate(data))
    return cert.public_bytes(Encoding.DER), cert


def _stored(facts: CertFacts, name: str) -> object:
    value = getattr(facts, name)
    if name == "serial":
        return facts.serial_hex
    if name == "idnat":
        return None if value is None else value.raw
    if isinstance(value, tuple):
        return list(value)
    return getattr(value, "value", value)


def test_every_fact_is_mapped() -> None:
    names = {f.name for f in dataclasses.fields(CertFacts)}
    assert names == set(COLUMNS) | NOT_STORED


def test_leaf_round_trip(sessions: SessionFactory) -> None:
    der, cert = _load(SHARED / "test-leaves" / "2600301752-Auth.crt")
    facts = certificate_facts(cert, der=der)
    with transaction(sessions) as session:
        row = certificate_row(facts, der=der, imported_at=T0, source="file:test")
        session.add(row)
        session.flush()
        row_id = row.id
    with sessions() as session:
        stored = session.get_one(Certificate, row_id)
    assert stored.der == der
    assert (stored.imported_at, stored.source) == (T0, "file:test")
    for fact, column in COLUMNS.items():
        assert getattr(stored, column) == _stored(facts, fact), fact


def test_ca_round_trip(sessions: SessionFactory) -> None:
    der, cert = _load(SHARED / "test-env" / "ACR-EL-TEST.cer")
    facts = certificate_facts(cert, der=der)
    with transaction(sessions) as session:
        row = ca_certificate_row(facts, der=der, is_anchor=True, pinned=True, source="bundle")
        session.add(row)
        session.flush()
        row_id = row.id
    with sessions() as session:
        stored = session.get_one(CACertificate, row_id)
    assert (stored.fingerprint_sha256, stored.subject, stored.not_after) == (
        facts.fingerprint_sha256, facts.subject, facts.not_after)
    assert (stored.is_anchor, stored.pinned, stored.environment) == (
        True, True, facts.environment.value)
