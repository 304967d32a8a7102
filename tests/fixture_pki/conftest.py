"""Fixtures reading the committed test PKI (fixtures/pki/fixed) through its index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from certmgr.testpki import PkiIndex, load_index

FIXED_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "pki" / "fixed"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "igc-sante"


@pytest.fixture(scope="session")
def fixed_index() -> PkiIndex:
    return load_index(FIXED_DIR)


@pytest.fixture(scope="session")
def cert(fixed_index: PkiIndex) -> Callable[[str], x509.Certificate]:
    """Load a committed CA or leaf certificate by manifest name (from its PEM)."""

    def load(name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(fixed_index.path(name, "pem").read_bytes())

    return load


@pytest.fixture(scope="session")
def crl(fixed_index: PkiIndex) -> Callable[[str], x509.CertificateRevocationList]:
    """Load a committed CRL by manifest name (from its DER)."""

    def load(name: str) -> x509.CertificateRevocationList:
        return x509.load_der_x509_crl(fixed_index.path(name, "der").read_bytes())

    return load


@pytest.fixture(scope="session")
def real_cert() -> Callable[[str], x509.Certificate]:
    """Load a real IGC Santé certificate from ../shared; the test skips when absent."""

    def load(relative: str) -> x509.Certificate:
        path = SHARED / relative
        if not path.exists():
            pytest.skip(f"reference certificate {path} absent")
        data = path.read_bytes()
        if data.startswith(b"-----"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)

    return load
