"""Certificates as validation sees them, path building, and RFC 5280 §6.1 processing.

`CertInfo` parses a certificate's extensions once. `PathBuilder` enumerates candidate paths
from a certificate to a trust anchor over an untrusted pool (name chaining, then AKI/SKI to
order the candidates; loops avoided; depth bounded). `PathState` and `process_certificate`
carry the §6.1 state variables (working key and issuer, max_path_length, name constraints,
the valid policy tree and its three counters) so that the state after a CA chain can be
cached and then extended per leaf.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeAlias

from asn1crypto import x509 as a509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtensionOID

from certmgr.pki import names, policy
from certmgr.pki.findings import Code, Finding, Severity

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterator

    from cryptography.hazmat.primitives import hashes

__all__ = [
    "CertInfo",
    "PathBuilder",
    "PathParams",
    "PathState",
    "check_usage",
    "process_certificate",
    "signed_part",
    "start_state",
    "verify_signature",
]

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

EKU_NAMES = {
    "serverAuth": "1.3.6.1.5.5.7.3.1", "clientAuth": "1.3.6.1.5.5.7.3.2",
    "codeSigning": "1.3.6.1.5.5.7.3.3", "emailProtection": "1.3.6.1.5.5.7.3.4",
    "timeStamping": "1.3.6.1.5.5.7.3.8", "OCSPSigning": "1.3.6.1.5.5.7.3.9",
}
_ANY_EKU = "2.5.29.37.0"
# key usages that fit each extended usage (RFC 5280 §4.2.1.12)
_KU_FOR_EKU = {
    EKU_NAMES["clientAuth"]: ("digital_signature",),
    EKU_NAMES["serverAuth"]: ("digital_signature", "key_encipherment", "key_agreement"),
    EKU_NAMES["emailProtection"]: (
        "digital_signature", "content_commitment", "key_encipherment", "key_agreement"),
}


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
        layout = _tbs_layout(der)
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
            if issuer_raw is not None and len(_ISSUER_KEYS) < _NAME_CACHE_MAX:
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
        except (ValueError, TypeError) as exc:
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
        spans = None if span is None else _split_extensions(self.der, *span)
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
            fast = _rfc4514(self._subject_raw)
            if fast is not None:
                return fast
            _learn_attribute_names(self._subject_raw, self.cert.subject)
        return self.cert.subject.rfc4514_string()

    def signed_by(self, key: Any) -> bool:
        """Whether `key` signed this certificate (over the TBS as it is in the DER)."""
        return verify_signature(key, self.cert, tbs=self._tbs)

    def self_signed(self) -> bool:
        return self.self_issued and self.signed_by(self.public_key)


# Bounded caches keyed by raw DER (the parsed value depends on those bytes only): issuer
# names repeat across every leaf of a CA, name attributes across its subjects.
_NAME_CACHE_MAX = 4096
_ISSUER_KEYS: dict[bytes, names.NameKey] = {}
_ATTR_NAMES: dict[bytes, str] = {}  # attribute type OID (DER) -> RFC 4514 name
_ParsedExtension: TypeAlias = "tuple[str, bool, tuple[tuple[str, Any], ...]]"
# Extension (DER) -> (OID, whether critical and unknown, the attributes it sets)
_EXTENSIONS: dict[bytes, _ParsedExtension] = {}
# Extensions block without its SKI (DER before, after) -> (attributes set, unknown critical)
_BLOCKS: dict[tuple[bytes, bytes], tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]] = {}
_SKI = ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string
_SKI_OID = b"\x06\x03\x55\x1d\x0e"
_RDN_TEXT: dict[bytes, str] = {}  # RDN (DER) -> its RFC 4514 text
_SPECIALS = frozenset('\\"+,;<>\0')
_UTF8, _PRINTABLE = 0x0C, 0x13
_PRINTABLE_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def _hdr(b: bytes, i: int) -> tuple[int, int, int]:
    """(tag, content offset, content length) of the DER element at `i`."""
    tag, length = b[i], b[i + 1]
    i += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(b[i : i + n], "big")
        i += n
    return tag, i, length


def _tbs_parts(der: bytes) -> tuple[bytes, bytes, bytes, list[bytes]] | None:
    """(TBSCertificate, issuer, subject, [each Extension]) as DER slices; None when odd."""
    layout = _tbs_layout(der)
    if layout is None:
        return None
    tbs, issuer, subject, start, end = layout
    spans = _split_extensions(der, start, end)
    if spans is None:
        return None
    return tbs, issuer, subject, [der[a:b] for a, b in spans]


def _split_extensions(der: bytes, start: int, end: int) -> list[tuple[int, int]] | None:
    """(start, end) of each Extension between `start` and `end`; None when they do not tile."""
    frm = int.from_bytes
    out: list[tuple[int, int]] = []
    e = start
    try:
        while e < end:
            length = der[e + 1]
            v = e + 2
            if length & 0x80:
                v += length & 0x7F
                length = frm(der[e + 2 : v], "big")
            out.append((e, v + length))
            e = v + length
    except IndexError:
        return None
    return out if e == end else None


def _tbs_layout(der: bytes) -> tuple[bytes, bytes, bytes, int, int] | None:
    """(TBSCertificate, issuer, subject) as DER slices and the offsets (start, end) of the
    Extensions' content (equal when there are none); None when the DER is odd.

    Runs for every certificate of a batch, hence the inlined header reads.
    """
    frm = int.from_bytes
    try:
        _, i, _ = _hdr(der, 0)
        tag, j, length = _hdr(der, i)
        if tag != 0x30:
            return None
        tbs_end = j + length
        k = j
        if der[k] == 0xA0:
            k += 2 + der[k + 1]
        spans: list[tuple[int, int]] = []
        # serial, signature, issuer, validity, subject, subjectPublicKeyInfo, then the
        # optional unique identifiers and [3] extensions
        while k < tbs_end:
            tag, length = der[k], der[k + 1]
            c = k + 2
            if length & 0x80:
                c += length & 0x7F
                length = frm(der[k + 2 : c], "big")
            spans.append((k, c + length))
            if tag == 0xA3:
                break
            k = c + length
        if len(spans) < 6 or spans[-1][1] != tbs_end:
            return None
        e = tbs_end
        if der[spans[-1][0]] == 0xA3 and len(spans) > 6:
            _, e, elen = _hdr(der, c)
            if e + elen != tbs_end:
                return None
    except IndexError:
        return None
    (a, b), (c, d) = spans[2], spans[4]
    return der[i:tbs_end], der[a:b], der[c:d], e, tbs_end


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
    if key is None or len(_BLOCKS) >= _NAME_CACHE_MAX:
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
        if item[0] != _SKI and len(_EXTENSIONS) < _NAME_CACHE_MAX:
            _EXTENSIONS[raw] = item


def _escape(val: str) -> str:
    """`cryptography.x509.name._escape_dn_value` for a non-empty string."""
    if not _SPECIALS.isdisjoint(val):
        for ch, esc in (("\\", "\\\\"), ('"', '\\"'), ("+", "\\+"), (",", "\\,"),
                        (";", "\\;"), ("<", "\\<"), (">", "\\>"), ("\0", "\\00")):
            val = val.replace(ch, esc)
    if val[0] == "#" or (val[0] == " " and len(val) > 1):
        val = "\\" + val
    if val[-1] == " ":
        val = val[:-1] + "\\ "
    return val


def _rdns(raw: bytes) -> list[tuple[int, int]]:
    """(start, end) of each RDN of a Name's DER."""
    _, i, length = _hdr(raw, 0)
    end, out = i + length, []
    while i < end:
        _, s, length = _hdr(raw, i)
        out.append((s, s + length))
        i = s + length
    return out


def _learn_attribute_names(raw: bytes, name: x509.Name) -> None:
    """Remember the RFC 4514 names of `name`'s attribute types, keyed by their DER."""
    try:
        spans = _rdns(raw)
    except IndexError:
        return
    if len(spans) != len(name.rdns) or len(_ATTR_NAMES) >= _NAME_CACHE_MAX:
        return
    for (s, _), rdn in zip(spans, name.rdns, strict=True):
        attrs = list(rdn)
        if len(attrs) == 1:
            _, a, _ = _hdr(raw, s)
            _, o, olen = _hdr(raw, a)
            _ATTR_NAMES[raw[a : o + olen]] = attrs[0].rfc4514_attribute_name


def _rfc4514(raw: bytes) -> str | None:
    """`Name.rfc4514_string()` from the Name's DER, or None when the fast path does not apply.

    It applies to names of single-attribute RDNs with UTF8String or PrintableString values
    whose attribute types were seen before (through the slow path); anything else falls back.
    RDNs repeat across the leaves of one organisation: their strings are cached by DER.
    """
    out: list[str] = []
    try:
        _, i, length = _hdr(raw, 0)
        end = i + length
        while i < end:
            length = raw[i + 1]  # RDN: SET, its header read inline (the usual short form)
            if length & 0x80:
                _, s, length = _hdr(raw, i)
            else:
                s = i + 2
            rdn_end = s + length
            rdn = raw[i:rdn_end]
            text = _RDN_TEXT.get(rdn)
            if text is None:
                text = _rdn_text(raw, s, rdn_end)
                if text is None:
                    return None
                if len(_RDN_TEXT) < _NAME_CACHE_MAX:
                    _RDN_TEXT[rdn] = text
            out.append(text)
            i = rdn_end
    except (IndexError, UnicodeDecodeError):
        return None
    out.reverse()
    return ",".join(out)


def _rdn_text(raw: bytes, s: int, rdn_end: int) -> str | None:
    tag, a, length = _hdr(raw, s)  # AttributeTypeAndValue: SEQUENCE
    if tag != 0x30 or a + length != rdn_end:
        return None
    _, o, olen = _hdr(raw, a)
    name = _ATTR_NAMES.get(raw[a : o + olen])
    vtag, v, vlen = _hdr(raw, o + olen)
    if name is None or v + vlen != rdn_end or vlen == 0:
        return None
    value = raw[v : v + vlen].decode()
    if vtag == _PRINTABLE:
        if not _PRINTABLE_CHARS.issuperset(value):
            return None
    elif vtag != _UTF8:
        return None
    return f"{name}={_escape(value)}"


def _verify_raw(key: Any, signature: bytes, data: bytes, hash_alg: hashes.HashAlgorithm | None,
                params: Any) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pad = params if isinstance(params, padding.PSS | padding.PKCS1v15) else (
                padding.PKCS1v15())
            assert hash_alg is not None
            key.verify(signature, data, pad, hash_alg)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            assert hash_alg is not None
            key.verify(signature, data, ec.ECDSA(hash_alg))
        elif isinstance(key, dsa.DSAPublicKey):
            assert hash_alg is not None
            key.verify(signature, data, hash_alg)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, AssertionError):
        return False
    return True


def verify_signature(key: Any, obj: x509.Certificate | x509.CertificateRevocationList, *,
                     tbs: bytes | None = None) -> bool:
    """Whether `key` signed the certificate or CRL `obj` (RSA v1.5/PSS, ECDSA, DSA, EdDSA).

    `tbs` is the signed part as it appears in `obj`'s DER, when the caller has it: otherwise
    cryptography re-encodes it on each call (about 5 µs for a certificate, 70 ms for a
    100,000-entry CRL).
    """
    try:
        hash_alg = obj.signature_hash_algorithm
        params = obj.signature_algorithm_parameters
    except Exception:  # an unsupported algorithm is a signature we cannot accept
        return False
    if tbs is None:
        tbs = obj.tbs_certificate_bytes if isinstance(obj, x509.Certificate) else (
            obj.tbs_certlist_bytes)
    return _verify_raw(key, obj.signature, tbs, hash_alg, params)


def signed_part(der: bytes) -> bytes | None:
    """The first element (the TBS) of a signed DER SEQUENCE, or None when not DER-shaped."""
    try:
        tag, i, _ = _hdr(der, 0)
        tag2, j, length = _hdr(der, i)
    except IndexError:
        return None
    if tag != 0x30 or tag2 != 0x30 or j + length > len(der):
        return None
    return der[i : j + length]


@dataclass(frozen=True, slots=True)
class PathParams:
    """The RFC 5280 §6.1.1 inputs that shape policy processing."""

    initial_policy_set: frozenset[str] = frozenset({policy.ANY_POLICY})
    require_explicit_policy: bool = False
    inhibit_policy_mapping: bool = False
    inhibit_any_policy: bool = False


@dataclass(slots=True)
class PathState:
    """The §6.1.2 state variables; `issuer` is the certificate whose key is the working key."""

    n: int
    issuer: CertInfo
    max_path_length: int
    constraints: tuple[names.NameConstraintSet, ...]
    tree: policy.PolicyTree | None
    explicit_policy: int
    policy_mapping: int
    inhibit_any: int

    def copy(self) -> PathState:
        return PathState(self.n, self.issuer, self.max_path_length, self.constraints, self.tree,
                         self.explicit_policy, self.policy_mapping, self.inhibit_any)


def start_state(anchor: CertInfo, n: int, params: PathParams) -> PathState:
    """§6.1.2 initialisation for a path of `n` certificates below `anchor`."""
    return PathState(
        n=n, issuer=anchor, max_path_length=n, constraints=(), tree=policy.initial_tree(),
        explicit_policy=0 if params.require_explicit_policy else n + 1,
        policy_mapping=0 if params.inhibit_policy_mapping else n + 1,
        inhibit_any=0 if params.inhibit_any_policy else n + 1,
    )


def _err(code: Code, message: str, subject: str | None) -> Finding:
    return Finding(code, Severity.ERROR, message, subject)


def process_certificate(
    state: PathState,
    ci: CertInfo,
    *,
    index: int,
    at: dt.datetime,
    params: PathParams,
    verify: Callable[[CertInfo, CertInfo], bool],
    subject: str | None,
) -> list[Finding]:
    """Process certificate `index` (1-based, §6.1.3; then §6.1.4 or §6.1.5), updating `state`.

    `verify(issuer, cert)` checks a signature (the caller caches it); `subject` names the
    certificate in the findings (None for the certificate being validated).
    """
    out: list[Finding] = []
    last = index == state.n
    cert = ci.cert
    if ci.malformed:
        out.append(_err(Code.MALFORMED, ci.malformed, subject))
    if not verify(state.issuer, ci):
        out.append(_err(Code.BAD_SIGNATURE, "the signature does not verify with the issuer's key",
                        subject))
    if at < cert.not_valid_before_utc:
        out.append(_err(Code.NOT_YET_VALID, f"not valid before {cert.not_valid_before_utc}",
                        subject))
    if at > cert.not_valid_after_utc:
        out.append(_err(Code.EXPIRED, f"expired at {cert.not_valid_after_utc}", subject))
    if ci.issuer_key != state.issuer.subject_key:
        out.append(_err(Code.NAME_CHAINING, "the issuer name does not match the issuer's subject",
                        subject))
    if state.constraints and (last or not ci.self_issued):
        reason = names.allowed(names.subject_names(cert.subject, ci.san), state.constraints)
        if reason:
            out.append(_err(Code.NAME_CONSTRAINTS, reason, subject))
    # §6.1.3 (d)-(f): policies
    any_ok = state.inhibit_any > 0 or (not last and ci.self_issued)
    state.tree = _process_policies(state.tree, ci.policies, any_allowed=any_ok)
    if ci.unknown_critical:
        out.append(_err(Code.UNKNOWN_CRITICAL_EXTENSION,
                        f"unknown critical extension {', '.join(ci.unknown_critical)}", subject))
    if last:
        out.extend(_wrap_up(state, ci, params, subject))
    else:
        if state.explicit_policy <= 0 and state.tree is None:
            out.append(_err(Code.POLICY, "no valid policy for the path", subject))
        out.extend(_prepare_next(state, ci, subject))
    return out


_POLICY_STEPS: dict[tuple[int, tuple[str, ...] | None, bool],
                    tuple[policy.PolicyTree, policy.PolicyTree | None]] = {}


def _process_policies(tree: policy.PolicyTree | None, policies: tuple[str, ...] | None, *,
                      any_allowed: bool) -> policy.PolicyTree | None:
    """`policy.process_policies`, remembered: trees are immutable and the leaves of one CA
    extend the same cached CA tree with the same policies."""
    if tree is None or policies is None:
        return None
    key = (id(tree), policies, any_allowed)
    hit = _POLICY_STEPS.get(key)
    if hit is not None and hit[0] is tree:  # the entry keeps `tree` alive: its id is unique
        return hit[1]
    out = policy.process_policies(tree, policies, any_allowed=any_allowed)
    if len(_POLICY_STEPS) < _NAME_CACHE_MAX:
        _POLICY_STEPS[key] = (tree, out)
    return out


def _prepare_next(state: PathState, ci: CertInfo, subject: str | None) -> list[Finding]:
    out: list[Finding] = []
    if ci.mappings:
        if policy.ANY_POLICY in ci.mappings or any(
            policy.ANY_POLICY in s for s in ci.mappings.values()
        ):
            out.append(_err(Code.POLICY, "a policy mapping involves anyPolicy", subject))
        state.tree = policy.map_policies(
            state.tree, ci.mappings, mapping_allowed=state.policy_mapping > 0
        )
    state.issuer = ci
    if ci.name_constraints is not None:
        state.constraints = (*state.constraints, ci.name_constraints)
    if not ci.self_issued:
        state.explicit_policy = max(state.explicit_policy - 1, 0)
        state.policy_mapping = max(state.policy_mapping - 1, 0)
        state.inhibit_any = max(state.inhibit_any - 1, 0)
    if ci.require_explicit is not None:
        state.explicit_policy = min(state.explicit_policy, ci.require_explicit)
    if ci.inhibit_mapping is not None:
        state.policy_mapping = min(state.policy_mapping, ci.inhibit_mapping)
    if ci.inhibit_any is not None:
        state.inhibit_any = min(state.inhibit_any, ci.inhibit_any)
    if not ci.is_ca:
        out.append(_err(Code.NOT_A_CA, "an issuing certificate is not a CA (basicConstraints)",
                        subject))
    if not ci.self_issued:
        if state.max_path_length <= 0:
            out.append(_err(Code.PATH_LEN, "the path is longer than a pathLenConstraint allows",
                            subject))
        state.max_path_length -= 1
    if ci.path_len is not None:
        state.max_path_length = min(state.max_path_length, ci.path_len)
    if ci.key_usage is not None and not ci.key_usage.key_cert_sign:
        out.append(_err(Code.KEY_USAGE, "an issuing certificate lacks keyCertSign", subject))
    return out


def _wrap_up(state: PathState, ci: CertInfo, params: PathParams,
             subject: str | None) -> list[Finding]:
    if state.explicit_policy > 0:
        state.explicit_policy -= 1
    if ci.require_explicit == 0:
        state.explicit_policy = 0
    state.tree = policy.intersect(state.tree, params.initial_policy_set)
    if state.explicit_policy <= 0 and state.tree is None:
        return [_err(Code.POLICY, "no acceptable certificate policy for the path", subject)]
    return []


def check_usage(ci: CertInfo, required_eku: str | None) -> list[Finding]:
    """EKU and keyUsage of the end certificate for the requested extended usage."""
    if required_eku is None:
        return []
    oid = EKU_NAMES.get(required_eku, required_eku)
    out: list[Finding] = []
    if ci.eku is not None and oid not in ci.eku and _ANY_EKU not in ci.eku:
        out.append(_err(Code.EKU, f"extendedKeyUsage lacks {required_eku}", None))
    ku = ci.key_usage
    wanted = _KU_FOR_EKU.get(oid)
    if ku is not None and wanted and not any(getattr(ku, name) for name in wanted):
        out.append(_err(Code.KEY_USAGE, f"keyUsage does not allow {required_eku} "
                        f"(needs one of {', '.join(wanted)})", None))
    return out


_ABOVE_MAX = 16


class PathBuilder:
    """Candidate paths from a certificate to a trust anchor, best candidates first."""

    def __init__(
        self, anchors: list[CertInfo], pool: list[CertInfo], *, max_depth: int = 10
    ) -> None:
        self.anchor_fps = {a.fp for a in anchors}
        self.max_depth = max_depth
        self._by_subject: dict[names.NameKey, list[CertInfo]] = {}
        self._indexed: set[str] = set()
        # paths above each CA, found once: every leaf of a batch reuses its issuer's
        self._above: dict[str, tuple[tuple[CertInfo, ...], ...] | None] = {}
        for ci in [*anchors, *pool]:  # anchors first: shorter paths are tried first
            if ci.fp not in self._indexed:
                self._indexed.add(ci.fp)
                self._by_subject.setdefault(ci.subject_key, []).append(ci)

    def issuers(self, ci: CertInfo) -> list[CertInfo]:
        """Certificates whose subject matches `ci`'s issuer, the AKI/SKI matches first."""
        found = self._by_subject.get(ci.issuer_key, [])
        if ci.aki is None or len(found) < 2:
            return found
        return sorted(found, key=lambda c: 0 if c.ski == ci.aki else (1 if c.ski is None else 2))

    def paths(self, leaf: CertInfo) -> Iterator[tuple[CertInfo, ...]]:
        """Paths leaf-first ending at an anchor (the anchor included), depth-first."""
        if leaf.fp in self._indexed:  # an anchor or pool certificate: it may recur above
            yield from self._search(leaf, self.max_depth)
            return
        # `leaf` is in no path above its issuers, so those paths do not depend on it: the
        # same sequence as the search from `leaf`, with the part above each issuer cached
        for c in self.issuers(leaf):
            if c.fp in self.anchor_fps:
                yield (leaf, c)
                continue
            if c.fp not in self._above:
                found = list(islice(self._search(c, self.max_depth - 1), _ABOVE_MAX + 1))
                self._above[c.fp] = tuple(found) if len(found) <= _ABOVE_MAX else None
            above = self._above[c.fp]
            for sub in self._search(c, self.max_depth - 1) if above is None else above:
                yield (leaf, *sub)

    def _search(self, start: CertInfo, max_depth: int) -> Iterator[tuple[CertInfo, ...]]:
        stack: list[tuple[CertInfo, ...]] = [(start,)]
        while stack:
            path = stack.pop()
            top = path[-1]
            if len(path) > 1 and top.fp in self.anchor_fps:
                yield path
                continue
            if len(path) > max_depth:
                continue
            used = {c.fp for c in path}
            nxt = [c for c in self.issuers(top) if c.fp not in used]
            stack.extend((*path, c) for c in reversed(nxt))

    def dead_end(self, leaf: CertInfo) -> tuple[CertInfo, ...]:
        """The longest chain that could be built (for reporting when no path exists)."""
        path = [leaf]
        while len(path) <= self.max_depth:
            nxt = [c for c in self.issuers(path[-1]) if c.fp not in {p.fp for p in path}]
            if not nxt:
                break
            path.append(nxt[0])
        return tuple(path)
