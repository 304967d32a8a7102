"""Property: the DER shortcuts (`certmgr.pki.der`, `CertInfo`'s caches) on generated and
mutated certificates either step aside (None, the slow path) or give cryptography's answer.

Whatever the bytes, no shortcut raises; for a certificate the loader accepts, the TBS, issuer
and subject slices are cryptography's, the subject string is `rfc4514_string()`, and the
facts `CertInfo` reads through its caches are the ones it reads with empty caches.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certmgr.errors import CertmgrError
from certmgr.pki import certinfo
from certmgr.pki.der import learn_attribute_names, rfc4514, signed_part, tbs_layout, tbs_parts
from certmgr.pki.findings import Code
from certmgr.pki.load import load_certificates
from certmgr.pki.validate import RevocationMode, ValidationContext, Validator

from .ecpki import AT, cert, fixture_test_key

PKITS = Path(__file__).parent / "pkits" / "certs"
_FIELDS = ("fp", "issuer_key", "ski", "aki", "is_ca", "path_len", "key_usage", "eku", "policies",
           "mappings", "require_explicit", "inhibit_mapping", "inhibit_any", "name_constraints",
           "san", "crl_dps", "unknown_critical", "malformed", "subject")
_SETTINGS = settings(max_examples=400, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow,
                                            HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    """A leaf and a CA made here, and a few PKITS certificates (odd names and extensions)."""
    out = [cert('Leaf, with "odd" + chars', "Inter", 10, 2, ca=False, serial=100),
           cert("Inter", "Root", 2, 1, ca=True, serial=2)]
    ders = [c.public_bytes(Encoding.DER) for c in out]
    if PKITS.is_dir():
        ders += [p.read_bytes() for p in sorted(PKITS.iterdir())[:: 37]]
    return ders


def _info(der: bytes) -> certinfo.CertInfo:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # negative serials and the like, on purpose
        return certinfo.CertInfo.load(der)


def _fields(ci: certinfo.CertInfo) -> tuple[object, ...]:
    return tuple(getattr(ci, f) for f in _FIELDS)


def _check(der: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a mutated serial may turn negative: still loaded
        _check_quietly(der)


def _check_quietly(der: bytes) -> None:
    # the shortcuts never raise, whatever the bytes
    layout, parts, signed = tbs_layout(der), tbs_parts(der), signed_part(der)
    try:
        (loaded,) = load_certificates(der, source="mutant")
    except (CertmgrError, ValueError):
        return  # refused by the loader: no shortcut ever sees it
    c = loaded.certificate
    tbs = c.tbs_certificate_bytes
    if layout is not None:
        assert layout[:3] == (tbs, c.issuer.public_bytes(), c.subject.public_bytes())
    if parts is not None:
        assert parts[0] == tbs
    if signed is not None and der == loaded.der:
        assert signed == tbs
    raw = c.subject.public_bytes()
    learn_attribute_names(raw, c.subject)
    text = rfc4514(raw)
    assert text is None or text == c.subject.rfc4514_string()
    cached = _fields(_info(loaded.der))  # through whatever the caches hold
    certinfo._BLOCKS.clear()
    certinfo._EXTENSIONS.clear()
    assert _fields(_info(loaded.der)) == cached


@_SETTINGS
@given(index=st.integers(0, 10**6),
       flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)),
                      min_size=1, max_size=3))
def test_mutated_certificates(seeds: list[bytes], index: int,
                              flips: list[tuple[int, int]]) -> None:
    data = bytearray(seeds[index % len(seeds)])
    for where, mask in flips:
        data[where % len(data)] ^= mask
    _check(bytes(data))


@_SETTINGS
@given(index=st.integers(0, 10**6), cut=st.integers(0, 10**6),
       junk=st.binary(max_size=8))
def test_truncated_and_extended_certificates(seeds: list[bytes], index: int, cut: int,
                                             junk: bytes) -> None:
    seed = seeds[index % len(seeds)]
    _check(seed[: cut % (len(seed) + 1)] + junk)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=256))
def test_random_bytes(data: bytes) -> None:
    _check(data)
    assert rfc4514(data) is None or isinstance(rfc4514(data), str)


def test_names_with_generated_values_read_like_cryptography() -> None:
    """(a deterministic sweep over the characters the subject fast path must escape)"""
    for value in ["é", "a\\b", "=x", " ", "#", "x ", "\u202e", "\U0001f600", "a\0b"]:
        name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, value),
                          x509.NameAttribute(x509.NameOID.ORGANIZATIONAL_UNIT_NAME, value)])
        learn_attribute_names(name.public_bytes(), name)
        assert rfc4514(name.public_bytes()) in (None, name.rfc4514_string())


def _with_duplicated_extension(c: x509.Certificate, signer: int) -> bytes:
    """`c` re-made with two private extensions whose OIDs are then made equal (one byte
    apart: 1.3.6.1.4.1.99999.1 and .2); signed again so that only the duplicate is wrong."""
    b = (x509.CertificateBuilder().subject_name(c.subject).issuer_name(c.issuer)
         .public_key(c.public_key()).serial_number(c.serial_number)
         .not_valid_before(c.not_valid_before_utc).not_valid_after(c.not_valid_after_utc))
    for ext in c.extensions:
        b = b.add_extension(ext.value, ext.critical)
    for oid in ("1.3.6.1.4.1.99999.1", "1.3.6.1.4.1.99999.2"):
        b = b.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), b"\x05\x00"),
                            critical=False)
    tbs = bytearray(b.sign(fixture_test_key(signer), hashes.SHA256()).tbs_certificate_bytes)
    at = bytes(tbs).rindex(b"\x2b\x06\x01\x04\x01\x86\x8d\x1f\x02") + 8
    tbs[at] = 0x01
    signature = fixture_test_key(signer).sign(bytes(tbs), ec.ECDSA(hashes.SHA256()))
    algorithm = bytes.fromhex("300a06082a8648ce3d040302")  # ecdsa-with-SHA256
    bits = b"\x00" + signature
    body = bytes(tbs) + algorithm + b"\x03" + _length(len(bits)) + bits
    return b"\x30" + _length(len(body)) + body


def _length(n: int) -> bytes:
    return bytes([n]) if n < 0x80 else bytes([0x82, n >> 8, n & 0xFF])


@pytest.mark.parametrize("which", ["leaf", "intermediate"])
def test_a_duplicated_extension_is_malformed_never_an_exception(which: str) -> None:
    root = cert("Root", "Root", 1, 1, ca=True, serial=1)
    inter = cert("Inter", "Root", 2, 1, ca=True, serial=2)
    leaves = [cert(f"Leaf {i}", "Inter", 10, 2, ca=False, serial=100 + i) for i in range(3)]
    if which == "leaf":
        ders = [_with_duplicated_extension(leaves[0], 2)] + [
            c.public_bytes(Encoding.DER) for c in leaves[1:]]
    else:
        inter = x509.load_der_x509_certificate(_with_duplicated_extension(inter, 1))
        ders = [c.public_bytes(Encoding.DER) for c in leaves]
    odd = x509.load_der_x509_certificate(ders[0] if which == "leaf" else
                                         inter.public_bytes(Encoding.DER))
    with pytest.raises(x509.DuplicateExtension):
        list(odd.extensions)  # cryptography refuses it, lazily
    ctx = ValidationContext(trust_anchors=(root,), untrusted=(inter,), at=AT,
                            revocation=RevocationMode.OFF, required_eku="clientAuth")
    results = [Validator(ctx).validate_der(d) for d in ders]
    assert [r.valid for r in results] == ([False, True, True] if which == "leaf"
                                          else [False, False, False])
    assert all(Code.MALFORMED in r.codes() or r.valid for r in results), results
