"""The batch speed-ups give the answers of the slow paths they stand in for.

- `CrlIndex`'s DER walk (with and without reading entry extensions) against cryptography's
  entries; an unknown critical entry extension still makes the CRL unusable.
- `CertInfo`'s extension-block cache (keyed around the SKI) against cryptography, including
  a certificate whose extension bytes imitate the SKI OID, and the revocation scope cache.
- `collect_batch` (os.scandir) against `os.walk`; `verify_files` with the workers reading
  the files against a batch that needs the parent's thorough reading.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certmgr.pki import certinfo
from certmgr.pki.crl import CrlIndex
from certmgr.pki.findings import Code
from certmgr.pki.validate import RevocationMode, ValidationContext, Validator
from certmgr.services.verify import VerifyRequest, collect_batch, verify_files

from .ecpki import AT, cert, crl, entry, fixture_test_key, name, write_pki

_FIELDS = ("fp", "issuer_key", "ski", "aki", "is_ca", "path_len", "key_usage", "eku", "policies",
           "mappings", "require_explicit", "inhibit_mapping", "inhibit_any", "name_constraints",
           "san", "crl_dps", "unknown_critical", "malformed")


# ------------------------------------------------------------------ CRL index
_SERIALS = [1, 127, 128, 255, 256, 2**64 - 1, 2**158 + 12345, *range(1000, 1040)]


@pytest.mark.parametrize("shape", ["plain", "true-in-a-serial", "mixed-reasons"])
def test_fast_crl_index_agrees_with_cryptography(shape: str) -> None:
    serials = list(_SERIALS)
    if shape == "true-in-a-serial":  # 01 01 FF in a serial: the walk reads the extensions
        serials += [0x010101FF, 0x0101FF42, 0x7701_01FF_0101_FF]
    entries = [entry(s, None if shape == "mixed-reasons" and s % 3 == 0 else
                      x509.ReasonFlags.certificate_hold if s % 2 else
                      x509.ReasonFlags.key_compromise) for s in serials]
    der = crl("Inter", 2, entries)
    assert (der.find(b"\x01\x01\xff") < 0) == (shape != "true-in-a-serial")
    fast, slow = CrlIndex.build(der, fast=True), CrlIndex.build(der, fast=False)
    assert fast.unusable is slow.unusable is None
    assert fast._der_entries  # the DER walk did index it
    key = slow.issuer_key
    for s in [*serials, 2, 129, 2**64, 0x0101FF, 999, 1040]:
        a, b = fast.lookup(s, key), slow.lookup(s, key)
        assert (a is None) == (b is None), s
        if a is not None and b is not None:
            assert (a.reason, a.date) == (b.reason, b.date), s
    assert sum(fast.lookup(s, key) is not None for s in serials) == len(serials)


def test_fast_crl_index_refuses_an_unknown_critical_entry_extension() -> None:
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    entries = [entry(s) for s in range(10, 60)] + [entry(77, extra=((odd, True),))]
    der = crl("Inter", 2, entries)
    fast, slow = CrlIndex.build(der, fast=True), CrlIndex.build(der, fast=False)
    assert slow.unusable is not None
    assert fast.unusable == slow.unusable


def test_fast_crl_index_hands_indirect_entries_to_the_full_parser() -> None:
    other = x509.CertificateIssuer([x509.DirectoryName(name("Other"))])
    entries = [entry(s) for s in range(10, 40)] + [entry(5, extra=((other, True),))]
    der = crl("Inter", 2, entries)
    fast, slow = CrlIndex.build(der, fast=True), CrlIndex.build(der, fast=False)
    # entry 5 belongs to another issuer: neither index may answer it for "Inter"
    assert fast.lookup(5, slow.issuer_key) is None
    assert slow.lookup(5, slow.issuer_key) is None
    assert fast.lookup(12, slow.issuer_key) is not None


# ------------------------------------------------------------------ extension blocks
def _fields(ci: certinfo.CertInfo) -> tuple[object, ...]:
    return tuple(getattr(ci, f) for f in _FIELDS)


def _slow_fields(der: bytes) -> tuple[object, ...]:
    certinfo._BLOCKS.clear()
    certinfo._EXTENSIONS.clear()
    return _fields(certinfo.CertInfo.load(der))


def test_extension_block_cache_gives_the_certificate_info_of_the_slow_path() -> None:
    imitation = x509.UnrecognizedExtension(  # holds the bytes of an SKI extension's start
        x509.ObjectIdentifier("1.3.6.1.4.1.99999.2"), b"\x30\x05\x06\x03\x55\x1d\x0e")
    shapes: list[dict[str, object]] = [
        {}, {"ski": False}, {"extra": (imitation,)},
        {"extra": (x509.CertificatePolicies([x509.PolicyInformation(
            x509.ObjectIdentifier("1.2.250.1.213.1"), None)]),)},
    ]
    for n, shape in enumerate(shapes):
        ders = [cert(f"Leaf {n}-{i}", "Inter", 10 + i, 2, ca=False, serial=100 + i,
                      **shape).public_bytes(Encoding.DER)  # type: ignore[arg-type]
                for i in range(4)]  # four keys: four SKIs
        want = [_slow_fields(d) for d in ders]
        certinfo._BLOCKS.clear()
        certinfo._EXTENSIONS.clear()
        for _ in range(2):  # the second pass reads the caches the first one filled
            assert [_fields(certinfo.CertInfo.load(d)) for d in ders] == want, shape
    assert certinfo._BLOCKS  # the cache did serve


def test_block_cache_keeps_out_a_byte_search_that_missed_the_ski() -> None:
    imitation = x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.99999.2"), b"\x30\x05\x06\x03\x55\x1d\x0e")
    der = cert("Leaf", "Inter", 10, 2, ca=False, serial=5,
                extra=(imitation,)).public_bytes(Encoding.DER)
    certinfo._BLOCKS.clear()
    ci = certinfo.CertInfo.load(der)
    assert not certinfo._BLOCKS
    assert ci.ski == x509.SubjectKeyIdentifier.from_public_key(
        fixture_test_key(10).public_key()).digest


# ------------------------------------------------------------------ engine and services
def _pki(tmp_path: Path) -> tuple[Path, Path, Path, list[x509.Certificate]]:
    return write_pki(tmp_path, leaves=12, revoked=(103, 107))


def test_scope_cache_keeps_revocation_verdicts(tmp_path: Path) -> None:
    _, _, _, leaves = _pki(tmp_path)
    root = cert("Root", "Root", 1, 1, ca=True, serial=1)
    inter = cert("Inter", "Root", 2, 1, ca=True, serial=2)
    ctx = ValidationContext(trust_anchors=(root,), untrusted=(inter,), at=AT,
                            crls=(crl("Root", 1, []), crl("Inter", 2, [entry(103)])),
                            revocation=RevocationMode.HARD_FAIL)
    ders = [c.public_bytes(Encoding.DER) for c in leaves]
    shared = Validator(ctx)
    fresh = [Validator(ctx).validate_der(d) for d in ders]  # no cache carried over
    assert [shared.validate_der(d) for d in ders] == fresh
    assert [r.codes() for r in fresh].count({Code.REVOKED}) == 1


def test_collect_batch_matches_os_walk(tmp_path: Path) -> None:
    for rel in ("b/2.pem", "b/1.pem", "a/x/9.pem", "a/.hidden", "top.pem", ".dot/in.pem",
                "z.pem"):
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "b", target_is_directory=True)
    want: list[Path] = []
    for root, dirs, files in os.walk(tmp_path):
        dirs.sort()
        want.extend(Path(root) / n for n in sorted(files) if not n.startswith("."))
    assert collect_batch(tmp_path) == want
    assert tmp_path / "link" / "1.pem" not in want


def test_verify_files_workers_read_files_and_the_parent_the_rest(tmp_path: Path) -> None:
    root, inter, crls, leaves = _pki(tmp_path)
    batch = tmp_path / "batch"
    batch.mkdir()
    for i, c in enumerate(leaves):
        (batch / f"{i:02}.pem").write_bytes(c.public_bytes(Encoding.PEM))
    (batch / "05.pem").write_bytes(leaves[5].public_bytes(Encoding.DER))  # DER: the parent
    (batch / "06.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64!\n"
                                   b"-----END CERTIFICATE-----\n")
    files = tuple(collect_batch(batch))
    request = VerifyRequest(certificates=files, trust=(root,), untrusted=(inter,),
                            crls=(crls,), processes=2)
    report = verify_files(request, at=AT)
    assert [v.source for v in report.verdicts] == [str(f) for f in files if f.name != "06.pem"]
    assert [f.source for f in report.failures] == [str(batch / "06.pem")]
    invalid = {Path(v.source).name for v in report.verdicts if not v.valid}
    assert invalid == {"03.pem", "07.pem"}  # the two revoked leaves
    assert all(len(v.path) == 3 for v in report.verdicts)


def test_verify_files_chain_file_lends_its_ca_to_every_file(tmp_path: Path) -> None:
    root, _, crls, leaves = _pki(tmp_path)
    inter = cert("Inter", "Root", 2, 1, ca=True, serial=2)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(leaves[0].public_bytes(Encoding.PEM) + inter.public_bytes(Encoding.PEM))
    alone = tmp_path / "alone.pem"  # its intermediate is only in chain.pem
    alone.write_bytes(leaves[1].public_bytes(Encoding.PEM))
    request = VerifyRequest(certificates=(alone, chain), trust=(root,), crls=(crls,))
    report = verify_files(request, at=AT)
    assert [(Path(v.source).name, v.valid) for v in report.verdicts] == [
        ("alone.pem", True), ("chain.pem", True)]
