"""The CRL index's DER walk against cryptography's full parser, on generated and mutated CRLs.

Whatever the CRL, `CrlIndex.build` never raises for a CRL cryptography loads; the walk
(`fast=True`) and the full parser (`fast=False`) agree on whether the CRL is usable and, when
it is, on every serial's entry. Entries cryptography would not read (an undefined reason code,
a duplicated extension) make the CRL unreadable on both paths, and the validator says so
(`CRL_UNUSABLE`) instead of failing.
"""

from __future__ import annotations

import datetime as dt
import warnings

import pytest
from asn1crypto import crl as acrl
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certmgr.errors import CertmgrError
from certmgr.pki.crl import CrlIndex
from certmgr.pki.findings import Code
from certmgr.pki.load import load_crls
from certmgr.pki.validate import RevocationMode, ValidationContext, Validator

from .ecpki import AT, T0, cert, crl, entry, fixture_test_key, name

_REASON_OID = x509.oid.CRLEntryExtensionOID.CRL_REASON
_PRIVATE = ("1.3.6.1.4.1.99999.1", "1.3.6.1.4.1.99999.2")  # same length: one byte apart
_SETTINGS = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


def _reason_code(value: int) -> x509.UnrecognizedExtension:
    """A cRLReason extension with any ENUMERATED value (the builder only takes defined ones)."""
    return x509.UnrecognizedExtension(_REASON_OID, bytes([0x0A, 0x01, value]))


def _private(oid: str) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), b"\x05\x00")


def _duplicate_in_entry(der: bytes) -> bytes:
    """`der` with the last second private OID rewritten as the first (not re-signed: the
    index does not check signatures, cryptography loads it)."""
    tail = der.rindex(b"\x2b\x06\x01\x04\x01\x86\x8d\x1f\x02")  # 1.3.6.1.4.1.99999.2
    return der[: tail + 8] + b"\x01" + der[tail + 9 :]


def _no_critical_entry_extension(der: bytes) -> bool:
    """Whether no entry of the CRL marks an extension critical (read leniently)."""
    try:
        tbs = acrl.CertificateList.load(der)["tbs_cert_list"]
        return not any(ext["critical"].native for rc in tbs["revoked_certificates"]
                       for ext in rc["crl_entry_extensions"])
    except Exception:  # asn1crypto refuses it: not the documented case
        return False


def _agree(der: bytes, *, known_limit: bool = False) -> None:
    """Both paths build without raising, agree on usability and on every listed serial.

    `known_limit`: the walk may keep a CRL whose entries have no critical flag where the
    full parser finds an entry extension unreadable (`certmgr.pki.crl`'s docstring)."""
    fast, slow = CrlIndex.build(der, fast=True), CrlIndex.build(der, fast=False)
    if known_limit and fast.unusable is None and slow.unusable is not None:
        assert slow.unusable.startswith("unreadable CRL"), slow.unusable
        assert _no_critical_entry_extension(der)
        return
    assert (fast.unusable is None) == (slow.unusable is None), (fast.unusable, slow.unusable)
    if slow.unusable is not None:
        return
    key = slow.issuer_key
    serials = {e.serial_number for e in slow.crl}
    for s in serials | {s + 1 for s in serials} | {0, 1}:
        a, b = fast.lookup(s, key), slow.lookup(s, key)
        assert (a is None) == (b is None), s
        if a is not None and b is not None:
            assert (a.reason, a.date) == (b.reason, b.date), s


@pytest.mark.parametrize("value", [7, 11, 99, 255])
def test_an_undefined_reason_code_makes_the_crl_unreadable_on_both_paths(value: int) -> None:
    der = crl("Inter", 2, [entry(s) for s in range(10, 40)]
              + [entry(5, None, extra=((_reason_code(value), False),))])
    fast, slow = CrlIndex.build(der, fast=True), CrlIndex.build(der, fast=False)
    assert slow.unusable is not None
    assert slow.unusable.startswith("unreadable CRL")
    assert fast.unusable == slow.unusable
    assert fast.lookup(5, slow.issuer_key) is None  # never an exception


def test_a_duplicated_entry_extension_makes_the_crl_unreadable_on_both_paths() -> None:
    """(The walk reads the extensions of a CRL whose entries carry a critical flag; one
    without keeps the known limit in `certmgr.pki.crl`'s docstring.)"""
    ext = tuple((_private(o), False) for o in _PRIVATE)
    dated = ((x509.InvalidityDate(dt.datetime(2024, 5, 1)), True),)  # a critical flag
    der = _duplicate_in_entry(crl("Inter", 2, [entry(s) for s in range(10, 40)]
                                  + [entry(6, extra=dated), entry(5, extra=ext)]))
    entries = list(x509.load_der_x509_crl(der))
    with pytest.raises(x509.DuplicateExtension):
        [e.extensions for e in entries]
    fast, slow = CrlIndex.build(der, fast=True), CrlIndex.build(der, fast=False)
    assert slow.unusable is not None
    assert fast.unusable == slow.unusable


def test_a_large_crl_with_an_undefined_reason_is_reported_not_raised() -> None:
    """Past the size where the validator takes the walk: the verdict of the full parser."""
    root = cert("Root", "Root", 1, 1, ca=True, serial=1)
    inter = cert("Inter", "Root", 2, 1, ca=True, serial=2)
    leaf = cert("Leaf", "Inter", 10, 2, ca=False, serial=100)
    big = crl("Inter", 2, [entry(s) for s in range(1000, 3200)]
              + [entry(100, None, extra=((_reason_code(99), False),))])
    for mode, valid in ((RevocationMode.HARD_FAIL, False), (RevocationMode.SOFT_FAIL, True)):
        ctx = ValidationContext(trust_anchors=(root,), untrusted=(inter,), at=AT,
                                crls=(crl("Root", 1, []), big), revocation=mode)
        result = Validator(ctx).validate(leaf)
        assert result.valid is valid
        assert Code.CRL_UNUSABLE in result.codes()


_REASONS = [None, *(r for r in x509.ReasonFlags if r is not x509.ReasonFlags.unspecified)]


@st.composite
def _crls(draw: st.DrawFn) -> bytes:
    """A CRL of the fixture intermediate: serials of any size, any reasons, some entries
    with an invalidity date, a private non-critical extension, or a raw reason code."""
    serials = draw(st.lists(st.integers(1, 2**159 - 1), min_size=0, max_size=40, unique=True))
    entries = []
    for s in serials:
        extra: list[tuple[x509.ExtensionType, bool]] = []
        reason = draw(st.sampled_from(_REASONS))
        kind = draw(st.sampled_from(["plain", "invalidity", "private", "raw-reason"]))
        if kind == "invalidity":
            extra.append((x509.InvalidityDate(T0.replace(tzinfo=None)
                                              - dt.timedelta(days=draw(st.integers(0, 999)))),
                          False))
        elif kind == "private":
            extra.append((_private(_PRIVATE[0]), False))
        elif kind == "raw-reason":
            reason = None
            extra.append((_reason_code(draw(st.integers(0, 12))), False))
        entries.append(entry(s, reason, extra=tuple(extra)))
    return crl("Inter", 2, entries)


@_SETTINGS
@given(der=_crls())
def test_generated_crls_walk_and_parser_agree(der: bytes) -> None:
    _agree(der)


@pytest.fixture(scope="module")
def seed() -> bytes:
    entries = [entry(s, r) for s, r in zip(range(300, 340), _REASONS * 4, strict=False)]
    entries.append(entry(77, extra=((x509.InvalidityDate(dt.datetime(2024, 5, 1)), False),)))
    return crl("Inter", 2, entries)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)),
                      min_size=1, max_size=4))
def test_mutated_crls_that_load_get_the_same_answers(
        seed: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(seed)
    for where, mask in flips:
        data[where % len(data)] ^= mask
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a country name of 5 letters: still loaded
        try:
            (loaded,) = load_crls(bytes(data), source="mutant")
        except CertmgrError:
            return  # refused by the loader (what every caller reads CRLs with): never indexed
        _agree(loaded.der, known_limit=True)


def _dated(when: dt.datetime) -> tuple[tuple[x509.ExtensionType, bool], ...]:
    return ((x509.InvalidityDate(when), False),)


def test_invalidity_dates_keep_the_walk_and_its_answers() -> None:
    entries = [entry(s, extra=_dated(dt.datetime(2024, 1 + s % 12, 1 + s % 28, s % 24)))
               for s in range(100, 160)]
    der = crl("Inter", 2, entries)
    fast = CrlIndex.build(der, fast=True)
    assert fast._der_entries  # indexed by the walk, not by the full parser
    _agree(der)


@pytest.mark.parametrize("bad", [b"20240231", b"20241301", b"00000101"])
def test_an_impossible_invalidity_date_gets_the_full_parsers_verdict(bad: bytes) -> None:
    der = crl("Inter", 2, [entry(s) for s in range(10, 40)]
              + [entry(5, extra=_dated(dt.datetime(2024, 5, 1)))])
    der = der.replace(b"20240501", bad)
    try:
        x509.load_der_x509_crl(der)
    except ValueError:
        pytest.fail("cryptography reads entry extensions lazily: the CRL itself loads")
    fast, slow = CrlIndex.build(der, fast=True), CrlIndex.build(der, fast=False)
    assert fast.unusable == slow.unusable
    _agree(der)


def test_a_serial_listed_twice_gets_the_same_entry_on_both_paths() -> None:
    der = crl("Inter", 2, [entry(7, x509.ReasonFlags.superseded), *map(entry, range(10, 20)),
                           entry(7, x509.ReasonFlags.cessation_of_operation)])
    _agree(der)


def test_a_duplicated_crl_extension_makes_it_unreadable_not_an_exception() -> None:
    builder = (x509.CertificateRevocationListBuilder().issuer_name(name("Inter"))
               .last_update(T0).next_update(T0 + dt.timedelta(days=90)))
    for oid in _PRIVATE:
        builder = builder.add_extension(_private(oid), critical=False)
    der = _duplicate_in_entry(builder.sign(fixture_test_key(2), hashes.SHA256())
                              .public_bytes(Encoding.DER))
    (loaded,) = load_crls(der, source="dup.crl")  # names read: it loads
    with pytest.raises(x509.DuplicateExtension):
        list(loaded.crl.extensions)
    for fast in (True, False):
        index = CrlIndex.build(der, fast=fast)
        assert index.unusable is not None
        assert index.unusable.startswith("unreadable CRL")
