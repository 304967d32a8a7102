"""`CertInfo`: a certificate as validation sees it, its extensions parsed once.

Leaves of one CA repeat their issuer name and extensions byte for byte (the SKI aside), so
their effects are cached by DER: the issuer's name key by the issuer Name's DER, each
extension by its DER, and the whole extension block by the bytes around the SKI. The caches
are bounded and keyed by bytes only (the parsed value depends on those bytes alone).
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeAlias

from asn1crypto import x509 as a509
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from certmgr.pki import names
from certmgr.pki.der import (
    NAME_CACHE_MAX,
    learn_attribute_names,
    rfc4514,
    split_extensions,
    tbs_layout,
)
from certmgr.pki.signature import verify_signature

__all__ = ["CertInfo"]

_POLICY_MAPPINGS = "2.5.29.33"
_KNOWN = frozenset(
    o.dotted_string
    for o in (
        ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.CERTIFICATE_POLICIES, ExtensionOID.POLICY_CONSTRAINTS,
        ExtensionOID.INHIBIT_ANY_POLICY, ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CRL_DISTRIBUTION_POINTS, ExtensionOID.FRESHEST_CRL,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS, ExtensionOID.SUBJECT_INFORMATION_ACCESS,
    )
) | {_POLICY_MAPPINGS}


class CertInfo:
    """A certificate with what validation needs parsed once. Build it with `CertInfo.load`."""

    __slots__ = (
        "_ext_span",
        "_key",
        "_self_issued",
        "_subject_key",
        "_subject_raw",
        "_tbs",
        "aki",
        "cert",
        "crl_dps",
        "der",
        "eku",
        "fp",
        "inhibit_any",
        "inhibit_mapping",
        "is_ca",
        "issuer_key",
        "issuer_raw",
        "key_usage",
        "malformed",
        "mappings",
        "name_constraints",
        "path_len",
        "policies",
        "require_explicit",
        "san",
        "ski",
        "unknown_critical",
    )

    def __init__(self, cert: x509.Certificate, der: bytes) -> None:
        self.cert = cert
        self.der = der
        self.fp = hashlib.sha256(der).hexdigest()
        # the raw TBS and names, sliced from the DER: cryptography re-encodes the TBS on each
        # `tbs_certificate_bytes`, and issuer names repeat across a batch (one key per name)
        layout = tbs_layout(der)
        self._tbs: bytes | None = None
        self._subject_raw: bytes | None = None
        self._ext_span: tuple[int, int] | None = None
        issuer_raw: bytes | None = None
        if layout is not None:
            self._tbs, issuer_raw, self._subject_raw, ext_start, ext_end = layout
            self._ext_span = (ext_start, ext_end)
        key = _ISSUER_KEYS.get(issuer_raw) if issuer_raw is not None else None
        if key is None:
            key = names.name_key(cert.issuer)
            if issuer_raw is not None and len(_ISSUER_KEYS) < NAME_CACHE_MAX:
                _ISSUER_KEYS[issuer_raw] = key
        self.issuer_key = key
        self.issuer_raw = issuer_raw  # the issuer Name's DER (None when the DER is odd)
        # computed on demand: a leaf rarely needs them and each costs a name walk
        self._subject_key: names.NameKey | None = None
        self._self_issued: bool | None = None
        self._key: Any = None
        self.ski: bytes | None = None
        self.aki: bytes | None = None
        self.is_ca: bool | None = None
        self.path_len: int | None = None
        self.key_usage: x509.KeyUsage | None = None
        self.eku: tuple[str, ...] | None = None
        self.policies: tuple[str, ...] | None = None
        self.mappings: dict[str, frozenset[str]] | None = None
        self.require_explicit: int | None = None
        self.inhibit_mapping: int | None = None
        self.inhibit_any: int | None = None
        self.name_constraints: names.NameConstraintSet | None = None
        self.san: tuple[x509.GeneralName, ...] = ()
        self.crl_dps: tuple[x509.DistributionPoint, ...] | None = None
        self.unknown_critical: tuple[str, ...] = ()
        self.malformed: str | None = None
        try:
            self._parse_extensions()
        except (ValueError, TypeError, x509.DuplicateExtension) as exc:
            self.malformed = f"unreadable extensions: {exc}"

    @classmethod
    def load(cls, der: bytes) -> CertInfo:
        return cls(x509.load_der_x509_certificate(der), der)

    def _parse_extensions(self) -> None:
        # Leaves of one CA repeat the same extensions byte for byte (the SKI aside): their
        # effects are cached by the DER of the whole block around the SKI (one lookup), and
        # else by each extension's DER, so a leaf skips cryptography's parsing.
        span = self._ext_span
        if span is not None:
            hit = _block_hit(self.der, *span)
            if hit is not None:
                attrs, self.unknown_critical, self.ski = hit
                for attr, value in attrs:
                    setattr(self, attr, value)
                return
        spans = None if span is None else split_extensions(self.der, *span)
        raws = None if spans is None else [self.der[a:b] for a, b in spans]
        parsed = _cached_extensions(raws) if raws is not None else None
        if parsed is None:
            exts = list(self.cert.extensions)
            parsed = [_effects(e.oid.dotted_string, e.critical, e.value) for e in exts]
            if raws is not None and len(raws) == len(parsed):
                _remember_extensions(raws, parsed)
        if span is not None and spans is not None and len(spans) == len(parsed):
            _remember_block(self.der, span, spans, parsed)
        unknown: list[str] = []
        for oid, unknown_critical, effects in parsed:
            if unknown_critical:
                unknown.append(oid)
            for attr, value in effects:
                setattr(self, attr, value)
        self.unknown_critical = tuple(unknown)

    @property
    def subject_key(self) -> names.NameKey:
        if self._subject_key is None:
            self._subject_key = names.name_key(self.cert.subject)
        return self._subject_key

    @property
    def self_issued(self) -> bool:
        if self._self_issued is None:
            self._self_issued = self.subject_key == self.issuer_key
        return self._self_issued

    @property
    def public_key(self) -> Any:
        """The public key object, kept: a fresh object redoes OpenSSL's per-key set-up."""
        if self._key is None:
            self._key = self.cert.public_key()
        return self._key

    @property
    def subject(self) -> str:
        """The subject as `x509.Name.rfc4514_string()` writes it."""
        if self._subject_raw is not None:
            fast = rfc4514(self._subject_raw)
            if fast is not None:
                return fast
            learn_attribute_names(self._subject_raw, self.cert.subject)
        return self.cert.subject.rfc4514_string()

    def signed_by(self, key: Any) -> bool:
        """Whether `key` signed this certificate (over the TBS as it is in the DER)."""
        return verify_signature(key, self.cert, tbs=self._tbs)

    def self_signed(self) -> bool:
        return self.self_issued and self.signed_by(self.public_key)


_ISSUER_KEYS: dict[bytes, names.NameKey] = {}  # issuer Name (DER) -> its comparison key
_ParsedExtension: TypeAlias = "tuple[str, bool, tuple[tuple[str, Any], ...]]"
# Extension (DER) -> (OID, whether critical and unknown, the attributes it sets)
_EXTENSIONS: dict[bytes, _ParsedExtension] = {}
# Extensions block without its SKI (DER before, after) -> (attributes set, unknown critical)
_BLOCKS: dict[tuple[bytes, bytes], tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]] = {}
_SKI = ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string
_SKI_OID = b"\x06\x03\x55\x1d\x0e"


def _effects(oid: str, critical: bool, v: Any) -> _ParsedExtension:
    """What one parsed extension sets on a `CertInfo` (attribute, value pairs)."""
    unknown = critical and oid not in _KNOWN
    out: tuple[tuple[str, Any], ...] = ()
    if isinstance(v, x509.BasicConstraints):
        out = (("is_ca", v.ca), ("path_len", v.path_length))
    elif isinstance(v, x509.KeyUsage):
        out = (("key_usage", v),)
    elif isinstance(v, x509.ExtendedKeyUsage):
        out = (("eku", tuple(o.dotted_string for o in v)),)
    elif isinstance(v, x509.CertificatePolicies):
        out = (("policies", tuple(p.policy_identifier.dotted_string for p in v)),)
    elif isinstance(v, x509.PolicyConstraints):
        out = (("require_explicit", v.require_explicit_policy),
               ("inhibit_mapping", v.inhibit_policy_mapping))
    elif isinstance(v, x509.InhibitAnyPolicy):
        out = (("inhibit_any", v.skip_certs),)
    elif isinstance(v, x509.NameConstraints):
        out = (("name_constraints", names.NameConstraintSet.from_extension(v)),)
    elif isinstance(v, x509.SubjectAlternativeName):
        out = (("san", tuple(v)),)
    elif isinstance(v, x509.CRLDistributionPoints):
        out = (("crl_dps", tuple(v)),)
    elif isinstance(v, x509.SubjectKeyIdentifier):
        out = (("ski", v.digest),)
    elif isinstance(v, x509.AuthorityKeyIdentifier):
        out = (("aki", v.key_identifier),)
    elif oid == _POLICY_MAPPINGS and isinstance(v, x509.UnrecognizedExtension):
        mapped: dict[str, set[str]] = {}
        for m in a509.PolicyMappings.load(v.value):
            issuer = m["issuer_domain_policy"].dotted
            mapped.setdefault(issuer, set()).add(m["subject_domain_policy"].dotted)
        out = (("mappings", {k: frozenset(s) for k, s in mapped.items()}),)
    return oid, unknown, out


def _ski_extension(raw: bytes) -> _ParsedExtension | None:
    """A non-critical subjectKeyIdentifier read from its DER (unique per key: not cached)."""
    if not raw.startswith(_SKI_OID, 2) or raw[1] & 0x80:
        return None
    k = 2 + len(_SKI_OID)
    if raw[k : k + 1] != b"\x04" or raw[k + 2 : k + 3] != b"\x04":
        return None  # an explicit `critical` or not an OCTET STRING: the slow path decides
    outer, inner = raw[k + 1], raw[k + 3]
    if outer != inner + 2 or k + 2 + outer != len(raw) or inner & 0x80:
        return None
    return _SKI, False, (("ski", raw[k + 4 :]),)


def _cached_extensions(raws: list[bytes]) -> list[_ParsedExtension] | None:
    out: list[_ParsedExtension] = []
    seen: set[str] = set()
    for raw in raws:
        hit = _EXTENSIONS.get(raw) or _ski_extension(raw)
        if hit is None or hit[0] in seen:  # unseen, or a duplicate that cryptography refuses
            return None
        seen.add(hit[0])
        out.append(hit)
    return out


def _block_key(der: bytes, start: int, end: int) -> tuple[bytes, bytes, int, int] | None:
    """(DER before the SKI extension, DER after it, the SKI's start, its end), the SKI
    found by a byte search; (all, b"", -1, -1) when there is no SKI OID; None when odd."""
    at = der.find(_SKI_OID, start, end) - 2
    if at < start:
        return der[start:end], b"", -1, -1
    if der[at] != 0x30 or der[at + 1] & 0x80:
        return None
    stop = at + 2 + der[at + 1]
    return der[start:at], der[stop:end], at, stop


def _block_hit(der: bytes, start: int, end: int) -> tuple[
        tuple[tuple[str, Any], ...], tuple[str, ...], bytes | None] | None:
    """(attributes to set, unknown critical OIDs, SKI) for a known extension block.

    Sound because a key is stored only after a full walk found the SKI OID at an extension
    boundary: the same bytes before it walk the same way, the SKI in between is checked as
    one whole extension, and the same bytes after it walk the same way to the end.
    """
    key = _block_key(der, start, end)
    if key is None:
        return None
    before, after, at, stop = key
    hit = _BLOCKS.get((before, after))
    if hit is None:
        return None
    if at < 0:
        return hit[0], hit[1], None
    ski = _ski_extension(der[at:stop])
    return None if ski is None else (hit[0], hit[1], ski[2][0][1])


def _remember_block(der: bytes, span: tuple[int, int], spans: list[tuple[int, int]],
                    parsed: list[_ParsedExtension]) -> None:
    key = _block_key(der, *span)
    if key is None or len(_BLOCKS) >= NAME_CACHE_MAX:
        return
    before, after, at, stop = key
    oids = [oid for oid, _, _ in parsed]
    if at < 0:
        if _SKI in oids:
            return
    elif (at, stop) not in spans or parsed[spans.index((at, stop))][0] != _SKI or (
            _ski_extension(der[at:stop]) is None) or oids.count(_SKI) != 1:
        return  # the byte search did not land on the one, plain SKI extension
    rest = [item for item in parsed if item[0] != _SKI]
    attrs = tuple(pair for _, _, effects in rest for pair in effects)
    unknown = tuple(oid for oid, unknown_critical, _ in rest if unknown_critical)
    _BLOCKS[(before, after)] = (attrs, unknown)


def _remember_extensions(raws: list[bytes], parsed: list[_ParsedExtension]) -> None:
    for raw, item in zip(raws, parsed, strict=True):
        if item[0] != _SKI and len(_EXTENSIONS) < NAME_CACHE_MAX:
            _EXTENSIONS[raw] = item

