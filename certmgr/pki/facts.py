"""The facts of a certificate, read once, as a plain value (shared contract, see notes).

`certificate_facts` never raises for an odd certificate: a missing extension
gives an empty value, an extension that cannot be parsed is recorded in
`CertFacts.parse_errors` and the rest is still read. It is on the validator's
hot path, so it hashes the DER with hashlib and reads the extensions once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certmgr.pki.classify import (
    Domain,
    Environment,
    Gamme,
    NameIndex,
    Product,
    classify,
    name_index,
)
from certmgr.pki.idnat import IdKind, IdNat, try_parse_idnat

if TYPE_CHECKING:
    import datetime as dt

__all__ = [
    "CertFacts",
    "Domain",
    "Environment",
    "Gamme",
    "IdKind",
    "IdNat",
    "Product",
    "certificate_facts",
    "describe_key",
    "key_kind",
]

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH.dotted_string: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING.dotted_string: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING.dotted_string: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING.dotted_string: "OCSPSigning",
    ExtendedKeyUsageOID.SMARTCARD_LOGON.dotted_string: "smartcardLogon",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string: "anyExtendedKeyUsage",
}
_SIGNATURE_NAMES = {
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.10": "rsassaPss",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
}
_KEY_USAGE_FIELDS = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)
_UPN_OID = "1.3.6.1.4.1.311.20.2.3"


@dataclass(frozen=True, slots=True)
class CertFacts:
    """What certmgr knows about one certificate (names and units as in the shared contract)."""

    fingerprint_sha256: str
    spki_sha256: str
    serial: int
    subject: str
    issuer: str
    country: str | None
    state: str | None
    organization: str | None
    org_unit: str | None
    common_name: str | None
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str
    key_size: int
    signature_algorithm: str
    signature_hash: str | None
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    policies: tuple[str, ...]
    crl_urls: tuple[str, ...]
    ocsp_urls: tuple[str, ...]
    ca_issuer_urls: tuple[str, ...]
    san: tuple[str, ...]
    is_ca: bool
    path_len: int | None
    ski: str | None
    aki: str | None
    self_issued: bool
    environment: Environment
    gamme: Gamme | None
    domain: Domain | None
    product: Product
    legacy_gip_cps: bool
    idnat: IdNat | None
    # additions to the contract
    org_units: tuple[str, ...] = ()
    """Every OU of the subject, in DN order (`org_unit` is the idNatStruct one, else the first)."""
    critical_extensions: tuple[str, ...] = ()
    """Dotted OIDs of the critical extensions."""
    parse_errors: tuple[str, ...] = ()
    """What could not be read (a malformed extension, an unsupported key)."""

    @property
    def serial_hex(self) -> str:
        return f"{self.serial:X}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO 8601 strings, enums as their values)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "idnat" and value is not None:
                value = {
                    "kind": value.kind.name,
                    "value": value.value,
                    "raw": value.raw,
                    "check_digit_ok": value.check_digit_ok,
                }
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        out["serial_hex"] = self.serial_hex
        return out


@dataclass(slots=True)
class _Extensions:
    key_usage: tuple[str, ...] = ()
    eku: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    crl_urls: tuple[str, ...] = ()
    ocsp_urls: tuple[str, ...] = ()
    ca_issuer_urls: tuple[str, ...] = ()
    san: tuple[str, ...] = ()
    is_ca: bool = False
    path_len: int | None = None
    ski: str | None = None
    aki: str | None = None
    critical: tuple[str, ...] = ()


def certificate_facts(cert: x509.Certificate, *, der: bytes | None = None) -> CertFacts:
    """Read the facts of `cert`; pass `der` when you have it (saves a re-encoding)."""
    if der is None:
        der = cert.public_bytes(serialization.Encoding.DER)
    errors: list[str] = []
    ext = _read_extensions(cert, errors)
    subject, issuer = cert.subject, cert.issuer
    subject_index, issuer_index = name_index(subject), name_index(issuer)
    key_type, key_size, spki_sha256 = _key_facts(cert, errors)
    units = subject_index.get(NameOID.ORGANIZATIONAL_UNIT_NAME, ())
    idnat = None
    for unit in units:
        idnat = try_parse_idnat(unit)
        if idnat is not None:
            break
    classification = classify(
        subject=subject_index,
        issuer=issuer_index,
        is_ca=ext.is_ca,
        key_usage=ext.key_usage,
        extended_key_usage=ext.eku,
        san=ext.san,
    )
    sig_oid = cert.signature_algorithm_oid.dotted_string
    return CertFacts(
        fingerprint_sha256=hashlib.sha256(der).hexdigest(),
        spki_sha256=spki_sha256,
        serial=cert.serial_number,
        subject=subject.rfc4514_string(),
        issuer=issuer.rfc4514_string(),
        country=_first(subject_index, NameOID.COUNTRY_NAME),
        state=_first(subject_index, NameOID.STATE_OR_PROVINCE_NAME),
        organization=_first(subject_index, NameOID.ORGANIZATION_NAME),
        org_unit=idnat.raw if idnat is not None else (units[0] if units else None),
        common_name=_first(subject_index, NameOID.COMMON_NAME),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=_SIGNATURE_NAMES.get(sig_oid, sig_oid),
        signature_hash=_signature_hash(cert),
        key_usage=ext.key_usage,
        extended_key_usage=ext.eku,
        policies=ext.policies,
        crl_urls=ext.crl_urls,
        ocsp_urls=ext.ocsp_urls,
        ca_issuer_urls=ext.ca_issuer_urls,
        san=ext.san,
        is_ca=ext.is_ca,
        path_len=ext.path_len,
        ski=ext.ski,
        aki=ext.aki,
        self_issued=subject == issuer,
        environment=classification.environment,
        gamme=classification.gamme,
        domain=classification.domain,
        product=classification.product,
        legacy_gip_cps=classification.legacy_gip_cps,
        idnat=idnat,
        org_units=units,
        critical_extensions=ext.critical,
        parse_errors=tuple(errors),
    )


def _first(index: NameIndex, oid: x509.ObjectIdentifier) -> str | None:
    values = index.get(oid, ())
    return values[0] if values else None


def _signature_hash(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # UnsupportedAlgorithm for exotic signatures: no hash to report
        return None
    return None if algorithm is None else algorithm.name


def _key_facts(cert: x509.Certificate, errors: list[str]) -> tuple[str, int, str]:
    try:
        key = cert.public_key()
        spki = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except Exception as exc:  # unsupported or malformed key: record it, carry on
        errors.append(f"public key: {exc}")
        return "unknown", 0, ""
    return (*key_kind(key), hashlib.sha256(spki).hexdigest())


def key_kind(key: object) -> tuple[str, int]:
    """(type, size in bits) of a public or private key: ("RSA", 2048), ("EC", 256)..."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return "EC", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey | dsa.DSAPrivateKey):
        return "DSA", key.key_size
    return type(key).__name__, 0


def describe_key(key: object) -> str:
    """"RSA-2048", "EC-256"... for a public or private key (never its material)."""
    kind, size = key_kind(key)
    return f"{kind}-{size}" if size else kind


def _read_extensions(cert: x509.Certificate, errors: list[str]) -> _Extensions:
    out = _Extensions()
    try:
        extensions = cert.extensions
    except Exception as exc:  # a malformed or duplicated extension poisons the whole list
        errors.append(f"extensions: {exc}")
        return out
    critical: list[str] = []
    for extension in extensions:
        if extension.critical:
            critical.append(extension.oid.dotted_string)
        try:
            _apply(extension.value, out)
        except Exception as exc:  # one odd extension must not hide the others
            errors.append(f"extension {extension.oid.dotted_string}: {exc}")
    out.critical = tuple(critical)
    return out


def _apply(value: x509.ExtensionType, out: _Extensions) -> None:
    if isinstance(value, x509.KeyUsage):
        out.key_usage = _key_usage_names(value)
    elif isinstance(value, x509.ExtendedKeyUsage):
        out.eku = tuple(_EKU_NAMES.get(o.dotted_string, o.dotted_string) for o in value)
    elif isinstance(value, x509.BasicConstraints):
        out.is_ca, out.path_len = value.ca, value.path_length
    elif isinstance(value, x509.CertificatePolicies):
        out.policies = tuple(p.policy_identifier.dotted_string for p in value)
    elif isinstance(value, x509.CRLDistributionPoints):
        out.crl_urls = tuple(
            name.value
            for point in value
            for name in (point.full_name or ())
            if isinstance(name, x509.UniformResourceIdentifier)
        )
    elif isinstance(value, x509.AuthorityInformationAccess):
        ocsp: list[str] = []
        issuers: list[str] = []
        for access in value:
            if isinstance(access.access_location, x509.UniformResourceIdentifier):
                target = ocsp if access.access_method.dotted_string.endswith(".1") else issuers
                target.append(access.access_location.value)
        out.ocsp_urls, out.ca_issuer_urls = tuple(ocsp), tuple(issuers)
    elif isinstance(value, x509.SubjectAlternativeName):
        out.san = tuple(_general_name(name) for name in value)
    elif isinstance(value, x509.SubjectKeyIdentifier):
        out.ski = value.digest.hex()
    elif isinstance(value, x509.AuthorityKeyIdentifier) and value.key_identifier is not None:
        out.aki = value.key_identifier.hex()


def _key_usage_names(value: x509.KeyUsage) -> tuple[str, ...]:
    names = [label for attr, label in _KEY_USAGE_FIELDS if getattr(value, attr)]
    if value.key_agreement:  # encipher/decipher_only are only defined with keyAgreement
        if value.encipher_only:
            names.append("encipherOnly")
        if value.decipher_only:
            names.append("decipherOnly")
    return tuple(names)


def _general_name(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DNSName):
        return f"dns:{name.value}"
    if isinstance(name, x509.RFC822Name):
        return f"email:{name.value}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"uri:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"ip:{name.value}"
    if isinstance(name, x509.DirectoryName):
        return f"dirname:{name.value.rfc4514_string()}"
    if isinstance(name, x509.RegisteredID):
        return f"rid:{name.value.dotted_string}"
    if isinstance(name, x509.OtherName):
        oid = name.type_id.dotted_string
        raw = name.value
        # UPN is a DER UTF8String (tag 0x0C, short length): show its text.
        if oid == _UPN_OID and len(raw) >= 2 and raw[0] == 0x0C and raw[1] == len(raw) - 2:
            return f"upn:{raw[2:].decode('utf-8', 'replace')}"
        return f"othername:{oid}"
    return f"other:{name!r}"
