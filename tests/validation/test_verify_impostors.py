"""An intermediate that claims to be an ANS CA must be the pinned one, wherever it comes from.

`--trust` refuses impostors (tests/pki_core); here an impostor intermediate arrives through
`--untrusted` or inside a chain file, under a root the user may trust (an OTHER-environment
root): it is never used to build a path, and the verdict says why (IMPOSTOR_CA).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from certmgr.pki.findings import Code
from certmgr.pki.validate import RevocationMode
from certmgr.services.verify import VerifyRequest, verify_files

from .ecpki import AT, T0, fixture_test_key

_ANS_INTER = "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"


def _dn(cn: str, ou: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ASIP-SANTE"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _make(subject: x509.Name, issuer: x509.Name, k: int, signer: int, *,
          ca: bool) -> x509.Certificate:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(fixture_test_key(k).public_key()).serial_number(k)
            .not_valid_before(T0).not_valid_after(T0 + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(fixture_test_key(signer), hashes.SHA256()))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    root_dn = _dn("A ROOT OF MY OWN", "MY PKI")
    inter_dn = _dn(_ANS_INTER, "IGC-SANTE")  # claims the production ANS intermediate
    root = _make(root_dn, root_dn, 31, 31, ca=True)
    inter = _make(inter_dn, root_dn, 32, 31, ca=True)
    leaf = _make(_dn("mailbox", "318751275100020"), inter_dn, 33, 32, ca=False)
    out = {}
    for label, body in (("root", root.public_bytes(Encoding.PEM)),
                        ("inter", inter.public_bytes(Encoding.PEM)),
                        ("leaf", leaf.public_bytes(Encoding.PEM)),
                        ("chain", leaf.public_bytes(Encoding.PEM)
                         + inter.public_bytes(Encoding.PEM))):
        out[label] = tmp_path / f"{label}.pem"
        out[label].write_bytes(body)
    return out


def _verify(files: dict[str, Path], cert: str, untrusted: tuple[Path, ...]) -> None:
    report = verify_files(VerifyRequest(certificates=(files[cert],), trust=(files["root"],),
                                        untrusted=untrusted, revocation=RevocationMode.OFF),
                          at=AT)
    [verdict] = report.verdicts
    assert not verdict.valid
    assert Code.IMPOSTOR_CA in {f.code for f in verdict.findings}
    assert [f.code for f in report.trust_findings] == [Code.IMPOSTOR_CA]
    assert _ANS_INTER in report.trust_findings[0].message


def test_impostor_intermediate_given_as_untrusted(files: dict[str, Path]) -> None:
    _verify(files, "leaf", (files["inter"],))


def test_impostor_intermediate_inside_a_chain_file(files: dict[str, Path]) -> None:
    _verify(files, "chain", ())
