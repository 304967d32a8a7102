"""Lint a certificate signing request against what IGC Santé accepts. Pure.

Works on any CSR (made by certmgr, `openssl req`, a vendor tool). Each finding
has a stable `CsrCode`. Severity ERROR means ANS will refuse the request (or
issue a certificate that the target service refuses); WARNING means it is
unusual or differs from the product's template; INFO is for information.

Without a profile only the profile-independent rules run (key, signature,
subject); with one, the requested extensions and the SAN are checked too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.x509.oid import ExtendedKeyUsageOID

from certmgr.errors import IdentifierError
from certmgr.pki.csr import (
    MAX_CN,
    MAX_O,
    MAX_OU,
    CsrProfile,
    get_profile,
    is_dns_name,
    name_entries,
)
from certmgr.pki.departments import parse_state
from certmgr.pki.findings import Code, Finding, Severity
from certmgr.pki.idnat import parse_idnat
from certmgr.pki.load import load_csr

if TYPE_CHECKING:
    from certmgr.pki.csr import NameEntry

__all__ = ["SERVICE_CN_RULES", "lint_csr"]


SERVICE_CN_RULES: dict[str, frozenset[str]] = {
    # The INSi teleservice identifies the calling mode by the certificate's CN:
    # anything else is refused by the service (DESIR_560).
    "INSI": frozenset({"INSI-AUTO", "INSI-MANU"}),
}
"""Services that require an exact CN: service name -> accepted CN values."""

_REQUIRED = ("C", "ST", "O", "OU", "CN")
_MAX_LEN = {"O": MAX_O, "OU": MAX_OU, "CN": MAX_CN, "ST": 128}
_GOOD_STRING_TYPES = frozenset({"PrintableString", "UTF8String"})
_WEAK_HASHES = frozenset({"md5", "sha1"})
_EKU_NAMES = {
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}
_KU_NAMES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)


def lint_csr(
    csr: bytes | x509.CertificateSigningRequest,
    *,
    profile: CsrProfile | str | None = None,
    service: str | None = None,
    source: str = "<csr>",
) -> tuple[Finding, ...]:
    """Findings about `csr` (PEM/DER bytes or a parsed request), most severe first.

    `service` names the target service when it constrains the CN (see
    `SERVICE_CN_RULES`). Raises ParseError when the bytes are not one CSR, and
    InputError for an unknown profile.
    """
    prof = None if profile is None else get_profile(profile)
    request = (
        csr if isinstance(csr, x509.CertificateSigningRequest) else load_csr(csr, source=source).csr
    )
    out: list[Finding] = []
    _check_signature(request, out)
    _check_key(request, prof, out)
    entries = name_entries(request.subject)
    _check_subject(entries, out)
    _check_cn(entries, prof, service, out)
    if prof is not None:
        _check_extensions(request, prof, entries, out)
    return tuple(sorted(out, key=lambda f: -f.severity))


def _add(out: list[Finding], code: Code, severity: Severity, message: str) -> None:
    out.append(Finding(code, severity, message))


def _check_signature(csr: x509.CertificateSigningRequest, out: list[Finding]) -> None:
    if not _signature_valid(csr):
        _add(
            out,
            Code.CSR_SIGNATURE_INVALID,
            Severity.ERROR,
            "the request's self-signature does not verify with its public key",
        )
    try:
        algo = csr.signature_hash_algorithm
    except Exception:  # e.g. RSASSA-PSS parameters cryptography cannot map
        algo = None
    name = algo.name if algo is not None else "none"
    if isinstance(algo, hashes.SHA256):
        return
    severity = Severity.ERROR if name in _WEAK_HASHES or algo is None else Severity.WARNING
    _add(out, Code.CSR_SIGNATURE_HASH, severity, f"signed with {name}: IGC Santé expects sha256")


def _signature_valid(csr: x509.CertificateSigningRequest) -> bool:
    """The self-signature check; SHA-1/MD5 signatures are verified by hand because
    `is_signature_valid` calls them invalid, and "invalid" must mean forged or damaged."""
    try:
        if csr.is_signature_valid:
            return True
        algo = csr.signature_hash_algorithm
        key = csr.public_key()
        if algo is None or algo.name not in _WEAK_HASHES:
            return False
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(csr.signature, csr.tbs_certrequest_bytes, asym_padding.PKCS1v15(), algo)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(csr.signature, csr.tbs_certrequest_bytes, ec.ECDSA(algo))
        else:
            return False
    except Exception:  # unsupported algorithm or bad signature: ANS cannot verify it either
        return False
    return True


def _check_key(
    csr: x509.CertificateSigningRequest, prof: CsrProfile | None, out: list[Finding]
) -> None:
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        _add(
            out,
            Code.CSR_KEY_TYPE,
            Severity.WARNING,
            f"EC key ({key.curve.name}): IGC Santé issues RSA and is not known to accept EC",
        )
        return
    if not isinstance(key, rsa.RSAPublicKey):
        _add(
            out,
            Code.CSR_KEY_TYPE,
            Severity.ERROR,
            f"{type(key).__name__.removesuffix('PublicKey')} key: IGC Santé needs RSA",
        )
        return
    allowed = prof.rsa_key_sizes if prof is not None else (2048, 3072, 4096)
    if key.key_size < 2048:
        _add(
            out,
            Code.CSR_KEY_SIZE,
            Severity.ERROR,
            f"RSA-{key.key_size} is too small: at least 2048 bits",
        )
    elif key.key_size not in allowed:
        _add(
            out,
            Code.CSR_KEY_SIZE,
            Severity.WARNING,
            f"RSA-{key.key_size} is unusual (expected {', '.join(map(str, allowed))})",
        )


def _first(entries: tuple[NameEntry, ...], name: str) -> NameEntry | None:
    return next((e for e in entries if e.name == name), None)


def _check_subject(entries: tuple[NameEntry, ...], out: list[Finding]) -> None:
    for name in _REQUIRED:
        count = sum(1 for e in entries if e.name == name)
        if count == 0:
            _add(out, Code.CSR_SUBJECT_MISSING, Severity.ERROR, f"the subject has no {name}")
        elif count > 1:
            _add(
                out,
                Code.CSR_SUBJECT_EXTRA,
                Severity.ERROR,
                f"the subject has {count} {name} attributes, IGC Santé uses one",
            )
    for entry in entries:
        if entry.name not in _REQUIRED:
            _add(
                out,
                Code.CSR_SUBJECT_EXTRA,
                Severity.WARNING,
                f"{entry.name} is not part of an IGC Santé organisation subject; "
                "ANS will not carry it over",
            )
        limit = _MAX_LEN.get(entry.name)
        if limit is not None and len(entry.value) > limit:
            _add(
                out,
                Code.CSR_SUBJECT_LENGTH,
                Severity.ERROR,
                f"{entry.name} has {len(entry.value)} characters, the limit is {limit}",
            )
        if entry.name == "C":
            if entry.string_type != "PrintableString":
                _add(
                    out,
                    Code.CSR_SUBJECT_STRING_TYPE,
                    Severity.WARNING,
                    f"C is a {entry.string_type}: RFC 5280 requires PrintableString",
                )
        elif entry.string_type not in _GOOD_STRING_TYPES:
            _add(
                out,
                Code.CSR_SUBJECT_STRING_TYPE,
                Severity.WARNING,
                f"{entry.name} is a {entry.string_type}: use PrintableString or UTF8String",
            )
    country = _first(entries, "C")
    if country is not None and country.value != "FR":
        _add(
            out,
            Code.CSR_SUBJECT_COUNTRY,
            Severity.ERROR,
            f"C is {country.value!r}: IGC Santé certificates have C=FR",
        )
    state = _first(entries, "ST")
    if state is not None and parse_state(state.value) is None:
        _add(
            out,
            Code.CSR_SUBJECT_STATE_FORMAT,
            Severity.ERROR,
            f"ST {state.value!r} is not '<Département> (<code>)', e.g. 'Paris (75)'",
        )
    ou = _first(entries, "OU")
    if ou is not None:
        _check_idnat(ou.value, out)


def _check_idnat(value: str, out: list[Finding]) -> None:
    try:
        ident = parse_idnat(value)
    except IdentifierError as exc:
        # ANS has issued OUs such as "10B0152872" (an internal structure number after the
        # type digit): an alphanumeric value after a type digit is doubtful, not refused.
        plausible = value[:1] in "01234" and value[1:].isalnum() and 9 <= len(value) <= 16
        _add(
            out,
            Code.CSR_OU_IDNAT,
            Severity.WARNING if plausible else Severity.ERROR,
            f"OU {value!r} is not a valid idNatStruct: {exc.reason}",
        )
        return
    if ident.check_digit_ok is False:
        _add(
            out,
            Code.CSR_IDNAT_CHECK_DIGIT,
            Severity.ERROR,
            f"the check digit of {ident.kind.name} {ident.value} in OU is wrong",
        )


def _check_cn(
    entries: tuple[NameEntry, ...],
    prof: CsrProfile | None,
    service: str | None,
    out: list[Finding],
) -> None:
    cn = _first(entries, "CN")
    if cn is None:
        return
    if service is not None:
        accepted = SERVICE_CN_RULES.get(service.strip().upper().replace("-", ""))
        if accepted is not None and cn.value not in accepted:
            _add(
                out,
                Code.CSR_CN_SERVICE,
                Severity.ERROR,
                f"{service} requires CN {' or '.join(sorted(accepted))}, got {cn.value!r}",
            )
    elif cn.value.upper().startswith("INSI") and cn.value not in SERVICE_CN_RULES["INSI"]:
        _add(
            out,
            Code.CSR_CN_SERVICE,
            Severity.ERROR,
            f"CN {cn.value!r} looks meant for INSi, which only accepts INSI-AUTO or INSI-MANU",
        )
    if prof is not None and prof.san_dns_from_cn and not is_dns_name(cn.value):
        _add(
            out,
            Code.CSR_CN_SERVICE,
            Severity.ERROR,
            f"{prof.name} needs a host name as CN, got {cn.value!r}",
        )


def _extension(
    csr: x509.CertificateSigningRequest, kind: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return csr.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


def _check_extensions(
    csr: x509.CertificateSigningRequest,
    prof: CsrProfile,
    entries: tuple[NameEntry, ...],
    out: list[Finding],
) -> None:
    try:
        ku_ext = _extension(csr, x509.KeyUsage)
        eku_ext = _extension(csr, x509.ExtendedKeyUsage)
        san_ext = _extension(csr, x509.SubjectAlternativeName)
    except (ValueError, x509.DuplicateExtension) as exc:
        _add(out, Code.CSR_EXTENSIONS, Severity.ERROR, f"unreadable extensionRequest: {exc}")
        return
    if ku_ext is not None:
        assert isinstance(ku_ext.value, x509.KeyUsage)
        got = {label for attr, label in _KU_NAMES if getattr(ku_ext.value, attr)}
        if got != prof.key_usage:
            _add(
                out,
                Code.CSR_EXTENSIONS,
                Severity.WARNING,
                f"keyUsage requested {_show(got)}, {prof.name} has {_show(prof.key_usage)}",
            )
        if not ku_ext.critical:
            _add(out, Code.CSR_EXTENSIONS, Severity.WARNING, "keyUsage is not marked critical")
    if eku_ext is not None:
        assert isinstance(eku_ext.value, x509.ExtendedKeyUsage)
        got = {_EKU_NAMES.get(oid, oid.dotted_string) for oid in eku_ext.value}
        if got != set(prof.extended_key_usage):
            _add(
                out,
                Code.CSR_EXTENSIONS,
                Severity.WARNING,
                f"extendedKeyUsage requested {_show(got)}, "
                f"{prof.name} has {_show(prof.extended_key_usage)}",
            )
    if prof.organisation and san_ext is not None:
        _add(
            out,
            Code.CSR_SAN_PRESENT,
            Severity.WARNING,
            f"{prof.name} certificates carry no subjectAltName; ANS drops or refuses it",
        )
    if prof.san_dns_from_cn:
        cn = _first(entries, "CN")
        names: list[str] = []
        if san_ext is not None:
            assert isinstance(san_ext.value, x509.SubjectAlternativeName)
            names = [n.lower() for n in san_ext.value.get_values_for_type(x509.DNSName)]
        if cn is not None and cn.value.lower() not in names:
            _add(
                out,
                Code.CSR_EXTENSIONS,
                Severity.WARNING,
                f"{prof.name}: the subjectAltName should hold dNSName {cn.value}",
            )


def _show(names: frozenset[str] | set[str] | tuple[str, ...]) -> str:
    return "{" + ", ".join(sorted(names)) + "}" if names else "nothing"
