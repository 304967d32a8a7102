"""Certificate signing requests for IGC Santé products: profiles, subject, builder. Pure.

Subject (`SubjectSpec`), in DER order: `C=FR`, `ST=<Département (nn)>`,
`O=<raison sociale>`, `OU=<idNatStruct>`, `CN=<service>`. String types:
PrintableString when every character fits its alphabet (letters, digits,
space and `'()+,-./:=?`), UTF8String otherwise (accents, `@`, `_`...); `C` is
always PrintableString (RFC 5280). Certificates issued by ANS carry ST/O/OU/CN
as UTF8String whatever the request says.

Profiles (`PROFILES`) state what certmgr *requests* in the CSR's
extensionRequest: keyUsage (critical) and extendedKeyUsage, and for SERV_SSL a
subjectAltName dNSName equal to the CN. ORG profiles carry no SAN, like the
certificates ANS issues. The CA applies its own certificate template: a request
that differs is not refused for that alone (csr_lint reports it as a warning).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from asn1crypto import core
from asn1crypto import parser as asn1_parser
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certmgr.errors import IdentifierError, InputError
from certmgr.pki.departments import departement_label, normalize_code
from certmgr.pki.idnat import parse_idnat

__all__ = [
    "DEFAULT_PROFILE",
    "MAX_CN",
    "MAX_O",
    "MAX_OU",
    "PROFILES",
    "CsrProfile",
    "NameEntry",
    "SubjectSpec",
    "build_csr",
    "get_profile",
    "is_dns_name",
    "is_printable",
    "name_entries",
]

MAX_O = 64
"""ub-organization-name (RFC 5280); the raison sociale is cut to it."""
MAX_OU = 64
"""ub-organizational-unit-name."""
MAX_CN = 64
"""ub-common-name."""

_PRINTABLE_RE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_DNS_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


# ---------------------------------------------------------------- profiles


@dataclass(frozen=True, slots=True)
class CsrProfile:
    """What a request for one IGC Santé product asks for.

    Usage names are the CertFacts ones (`digitalSignature`, `clientAuth`...).
    """

    name: str
    description: str
    key_usage: frozenset[str]
    extended_key_usage: tuple[str, ...]
    rsa_key_sizes: tuple[int, ...] = (2048, 3072, 4096)
    signature_hash: str = "sha256"
    organisation: bool = True
    """ORG products: no subjectAltName."""
    san_dns_from_cn: bool = False

    @property
    def product(self) -> str:
        return self.name


_EKU_OIDS = {
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
}
_KU_FIELDS = {
    "digitalSignature": "digital_signature",
    "nonRepudiation": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
}

PROFILES: dict[str, CsrProfile] = {
    p.name: p
    for p in (
        CsrProfile(
            "ORG_AUTH_CLI",
            "ORG authentification client (MSSanté applicative mailbox)",
            frozenset({"digitalSignature"}),
            ("clientAuth",),
        ),
        CsrProfile(
            "ORG_SIGN",
            "ORG signature",
            frozenset({"digitalSignature", "nonRepudiation"}),
            ("emailProtection",),
        ),
        CsrProfile(
            "ORG_CONF",
            "ORG confidentialité (encryption)",
            frozenset({"keyEncipherment"}),
            ("emailProtection",),
        ),
        CsrProfile(
            "SERV_SSL",
            "SERV TLS server",
            frozenset({"digitalSignature", "keyEncipherment"}),
            ("serverAuth", "clientAuth"),
            organisation=False,
            san_dns_from_cn=True,
        ),
        CsrProfile(
            "SERV_SMIME",
            "SERV S/MIME",
            frozenset({"digitalSignature", "keyEncipherment"}),
            ("emailProtection",),
            organisation=False,
        ),
    )
}
DEFAULT_PROFILE = "ORG_AUTH_CLI"


def get_profile(profile: CsrProfile | str) -> CsrProfile:
    """The profile object for a name ("ORG_AUTH_CLI", "org-auth-cli"...); InputError if unknown."""
    if isinstance(profile, CsrProfile):
        return profile
    key = profile.strip().upper().replace("-", "_").replace("/", "")
    if key not in PROFILES:
        raise InputError(f"unknown CSR profile {profile!r} (choose one of: {', '.join(PROFILES)})")
    return PROFILES[key]


# ---------------------------------------------------------------- subject


def is_printable(value: str) -> bool:
    """True when `value` fits the ASN.1 PrintableString alphabet."""
    return _PRINTABLE_RE.fullmatch(value) is not None


def is_dns_name(value: str) -> bool:
    """A plausible host name: LDH labels, at least two, no wildcard."""
    labels = value.lower().rstrip(".").split(".")
    return (
        len(labels) >= 2
        and len(value) <= 253
        and all(_DNS_LABEL_RE.fullmatch(label) for label in labels)
    )


@dataclass(frozen=True, slots=True)
class SubjectSpec:
    """The subject of a request, validated and normalised when built.

    `departement` is a code ("75", "2A", "974"; "1" means "01"). `organization`
    is the raison sociale: white space collapsed, then **cut to its first 64
    characters here, in `__post_init__`** (RFC 5280 ub-organization-name, as
    ANS does). `idnat` is the idNatStruct (type digit + identifier). `common_name`
    is the service: the mailbox address or the application name. A CN is never
    cut (a cut mailbox address would name another mailbox): over 64 characters
    it is refused.

    Raises IdentifierError for a malformed idNatStruct or a failing check digit,
    InputError for an unknown département or an empty, oversized or
    control-character value.
    """

    departement: str
    organization: str
    idnat: str
    common_name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "departement", normalize_code(self.departement))
        organization = " ".join(self.organization.split())[:MAX_O].rstrip()
        if not organization:
            raise InputError("the organisation name (O) is empty")
        ident = parse_idnat(self.idnat, source="OU")
        if ident.check_digit_ok is False:
            raise IdentifierError(
                f"the check digit of {ident.kind.name} {ident.value} is wrong", source="OU"
            )
        if len(ident.raw) > MAX_OU:
            raise InputError(f"longer than {MAX_OU} characters", source="OU")
        cn = self.common_name.strip()
        if not cn:
            raise InputError("the common name (CN) is empty")
        if len(cn) > MAX_CN:
            raise InputError(f"{cn!r} is longer than {MAX_CN} characters", source="CN")
        if _CONTROL_RE.search(cn) or _CONTROL_RE.search(organization):
            raise InputError("control characters are not allowed in a subject")
        object.__setattr__(self, "organization", organization)
        object.__setattr__(self, "idnat", ident.raw)
        object.__setattr__(self, "common_name", cn)

    @property
    def state(self) -> str:
        """The ST value, e.g. "Côte-d'Or (21)"."""
        return departement_label(self.departement)

    def to_name(self) -> x509.Name:
        """The Name in DER order C, ST, O, OU, CN with the string types of the module doc."""
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR", _type=_ASN1Type.PrintableString),
                _attr(NameOID.STATE_OR_PROVINCE_NAME, self.state),
                _attr(NameOID.ORGANIZATION_NAME, self.organization),
                _attr(NameOID.ORGANIZATIONAL_UNIT_NAME, self.idnat),
                _attr(NameOID.COMMON_NAME, self.common_name),
            ]
        )


def _attr(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute[str]:
    kind = _ASN1Type.PrintableString if is_printable(value) else _ASN1Type.UTF8String
    return x509.NameAttribute(oid, value, _type=kind)


# ---------------------------------------------------------------- parsed names


@dataclass(frozen=True, slots=True)
class NameEntry:
    """One attribute of a parsed Name: short name ("CN"), OID, value, ASN.1 string type."""

    name: str
    oid: str
    value: str
    string_type: str


_SHORT_NAMES = {
    "2.5.4.6": "C",
    "2.5.4.8": "ST",
    "2.5.4.7": "L",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.3": "CN",
    "1.2.840.113549.1.9.1": "emailAddress",
    "2.5.4.5": "serialNumber",
}
_STRING_TYPES = {
    19: ("PrintableString", "ascii"),
    12: ("UTF8String", "utf-8"),
    20: ("TeletexString", "latin-1"),
    22: ("IA5String", "ascii"),
    28: ("UniversalString", "utf-32-be"),
    30: ("BMPString", "utf-16-be"),
}


class _Atv(core.Sequence):  # type: ignore[misc]
    _fields = [("type", core.ObjectIdentifier), ("value", core.Any)]  # noqa: RUF012


class _Rdn(core.SetOf):  # type: ignore[misc]
    _child_spec = _Atv


class _Name(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _Rdn


def name_entries(name: x509.Name) -> tuple[NameEntry, ...]:
    """The attributes of `name` in DER order, each with the string type it is encoded with.

    cryptography keeps the string type private, so the DER is read here.
    """
    entries: list[NameEntry] = []
    for rdn in _Name.load(name.public_bytes()):
        for atv in rdn:
            oid = atv["type"].dotted
            class_, _, tag, _, contents, _ = asn1_parser.parse(atv["value"].dump())
            type_name, codec = _STRING_TYPES.get(tag, ("", "")) if class_ == 0 else ("", "")
            try:
                text = contents.decode(codec) if codec else contents.hex()
            except UnicodeDecodeError:
                text, codec = contents.hex(), ""
            type_name = type_name or f"tag {class_}/{tag}"
            entries.append(NameEntry(_SHORT_NAMES.get(oid, oid), oid, text, type_name))
    return tuple(entries)


# ---------------------------------------------------------------- builder


def build_csr(
    *,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    profile: CsrProfile | str,
    subject: SubjectSpec,
) -> bytes:
    """A PEM CSR for `subject` under `profile`, signed with SHA-256 by `key`.

    Refuses (InputError) an RSA key size the profile does not allow, and for
    SERV_SSL a CN that is not a host name. EC keys are accepted here (the caller
    has opted in with `generate_key(allow_ec=True)` and warned).
    """
    prof = get_profile(profile)
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size not in prof.rsa_key_sizes:
        raise InputError(
            f"RSA-{key.key_size} is not allowed for {prof.name} "
            f"(allowed: {', '.join(map(str, prof.rsa_key_sizes))})"
        )
    if prof.san_dns_from_cn and not is_dns_name(subject.common_name):
        raise InputError(f"{prof.name} needs a host name as CN, got {subject.common_name!r}")
    usage = {field: name in prof.key_usage for name, field in _KU_FIELDS.items()}
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject.to_name())
        .add_extension(
            x509.KeyUsage(**usage, encipher_only=False, decipher_only=False), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage([_EKU_OIDS[name] for name in prof.extended_key_usage]),
            critical=False,
        )
    )
    if prof.san_dns_from_cn:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject.common_name.lower())]),
            critical=False,
        )
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)
