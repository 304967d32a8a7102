"""Certificate profiles copied from the real IGC Santé certificates.

CA: basicConstraints critical (pathLen 0 on intermediates), KU keyCertSign +
cRLSign critical, anyPolicy with a CPS URL, SKI/AKI, and for intermediates a CRL
DP (HTTP + LDAP) towards the root's ARL.
ORG leaves: basicConstraints CA:FALSE, SKI/AKI, KU critical, one policy with a
CPS URL, EKU, privateKeyUsagePeriod, CRL DP (HTTP + LDAP), freshestCRL, AIA
(OCSP + caIssuers), the private GIP-CPS extension 1.2.250.1.71.1.2.5, no SAN.
LEGACY_CLASSE4 mirrors the GIP-CPS classe 4 server certificate (with a SAN).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from urllib.parse import quote

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from certmgr.testpki.manifest import Urls

__all__ = [
    "GIP_CPS_PRIVATE_OID",
    "UNKNOWN_CRITICAL_OID",
    "Ext",
    "ca_extensions",
    "leaf_extensions",
    "private_key_usage_period",
    "unknown_critical_extension",
]

Ext = tuple[x509.ExtensionType, bool]  # (value, critical)

# An OID under the fixture arc that no verifier knows; its extension is marked critical.
UNKNOWN_CRITICAL_OID = x509.ObjectIdentifier("1.2.250.1.213.1.7.999.9.1")
# Present, non-critical, in every real GIP-CPS / IGC Santé ORG leaf (value copied as is).
GIP_CPS_PRIVATE_OID = x509.ObjectIdentifier("1.2.250.1.71.1.2.5")
_PKUP_OID = x509.ObjectIdentifier("2.5.29.16")

_CA_KU = ("key_cert_sign", "crl_sign", "digital_signature")
_PROFILE_KU: dict[str, tuple[str, ...]] = {
    "AUTH_CLI": ("digital_signature",),
    "SIGN": ("digital_signature", "content_commitment"),
    "SERV_SSL": ("digital_signature", "key_encipherment"),
    "LEGACY_CLASSE4": ("digital_signature", "key_encipherment"),
}
_PROFILE_EKU: dict[str, tuple[x509.ObjectIdentifier, ...]] = {
    "AUTH_CLI": (ExtendedKeyUsageOID.CLIENT_AUTH,),
    "SIGN": (ExtendedKeyUsageOID.EMAIL_PROTECTION,),
    "SERV_SSL": (ExtendedKeyUsageOID.SERVER_AUTH,),
    "LEGACY_CLASSE4": (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
}


def ca_extensions(
    *,
    public_key: rsa.RSAPublicKey,
    issuer_public_key: rsa.RSAPublicKey,
    issuer_name: str,
    issuer_subject: x509.Name,
    is_root: bool,
    path_length: int | None,
    key_usage: tuple[str, ...],
    urls: Urls,
) -> list[Ext]:
    """The extensions of a CA certificate, in the order of the real ones."""
    unknown = set(key_usage) - set(_CA_KU)
    if unknown:
        raise ValueError(f"unsupported CA key usage {sorted(unknown)}")
    exts: list[Ext] = [
        (x509.BasicConstraints(ca=True, path_length=path_length), True),
        (_key_usage(key_usage), True),
        (_policies(x509.ObjectIdentifier("2.5.29.32.0"), urls.cps), False),
    ]
    if not is_root:
        exts.append((_crl_dp(issuer_name, issuer_subject, urls), False))
    exts += [
        (x509.SubjectKeyIdentifier.from_public_key(public_key), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), False),
    ]
    return exts


def leaf_extensions(
    *,
    profile: str,
    public_key: rsa.RSAPublicKey,
    issuer_public_key: rsa.RSAPublicKey,
    issuer_name: str,
    issuer_subject: x509.Name,
    subject: x509.Name,
    policy: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    urls: Urls,
) -> list[Ext]:
    """The extensions of a leaf in `profile` (AUTH_CLI, SIGN, SERV_SSL, LEGACY_CLASSE4)."""
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key)
    private = x509.UnrecognizedExtension(GIP_CPS_PRIVATE_OID, bytes.fromhex("040183"))
    ku = (_key_usage(_PROFILE_KU[profile]), True)
    eku = (x509.ExtendedKeyUsage(list(_PROFILE_EKU[profile])), False)
    if profile == "LEGACY_CLASSE4":
        cn = subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        san = x509.SubjectAlternativeName([x509.DNSName(str(cn))])
        return [ku, eku, (san, False), (_policies(x509.ObjectIdentifier(policy), None), False),
                (private, False), (ski, False), (aki, False)]
    delta_url = f"{urls.crl_base}{issuer_name}-delta.crl"
    aia = x509.AuthorityInformationAccess([
        x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                               x509.UniformResourceIdentifier(urls.ocsp)),
        x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                               x509.UniformResourceIdentifier(f"{urls.ca_base}{issuer_name}.cer")),
    ])
    return [
        (x509.BasicConstraints(ca=False, path_length=None), False),
        (ski, False),
        (aki, False),
        ku,
        (_policies(x509.ObjectIdentifier(policy), urls.cps), False),
        eku,
        (private_key_usage_period(not_before, not_after), False),
        (_crl_dp(issuer_name, issuer_subject, urls), False),
        (x509.FreshestCRL([_dp(delta_url)]), False),
        (aia, False),
        (private, False),
    ]


def private_key_usage_period(
    not_before: dt.datetime, not_after: dt.datetime
) -> x509.UnrecognizedExtension:
    """RFC 5280 4.2.1.4 (obsolete but present in IGC Santé leaves), DER built by hand.

    PrivateKeyUsagePeriod ::= SEQUENCE { notBefore [0] GeneralizedTime, notAfter [1] ... }
    with IMPLICIT tags; cryptography has no builder for it.
    """
    body = _implicit_time(0x80, not_before) + _implicit_time(0x81, not_after)
    return x509.UnrecognizedExtension(_PKUP_OID, bytes([0x30, len(body)]) + body)


def unknown_critical_extension() -> Ext:
    """A critical extension no verifier understands (its value is a UTF8String)."""
    value = b"certmgr fixture"
    return x509.UnrecognizedExtension(UNKNOWN_CRITICAL_OID, bytes([0x0C, len(value)]) + value), True


def _implicit_time(tag: int, when: dt.datetime) -> bytes:
    text = when.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ").encode("ascii")
    return bytes([tag, len(text)]) + text


def _key_usage(names: tuple[str, ...]) -> x509.KeyUsage:
    flags = dict.fromkeys(
        ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
         "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
        False,
    )
    for name in names:
        flags[name] = True
    return x509.KeyUsage(**flags)


def _policies(oid: x509.ObjectIdentifier, cps: str | None) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(oid, [cps] if cps else None)])


def _dp(url: str) -> x509.DistributionPoint:
    return x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)],
        relative_name=None, reasons=None, crl_issuer=None,
    )


def _crl_dp(issuer_name: str, issuer_subject: x509.Name, urls: Urls) -> x509.CRLDistributionPoints:
    """HTTP then LDAP, one distribution point each, like the real certificates."""
    dn = quote(issuer_subject.rfc4514_string(), safe="=,")
    ldap = (f"ldap://{urls.ldap_host}/{dn}"
            "?certificaterevocationlist;binary?base?objectclass=pkiCA")
    return x509.CRLDistributionPoints([_dp(f"{urls.crl_base}{issuer_name}.crl"), _dp(ldap)])
