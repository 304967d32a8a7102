"""Where a certificate sits in the IGC Santé: environment, gamme, domain, product, legacy.

The rules come from the real ANS certificates:

- environment: the OU of the CA DN (the issuer of a leaf, the subject of a CA):
  "IGC-SANTE" production, "IGC-SANTE TEST" test, "IGC-SANTE FIXTURE" certmgr's
  own test PKI, anything else OTHER;
- gamme and domain: the CA common name, `AC IGC-SANTE <GAMME> <DOMAIN>` for the
  intermediates (prefixed "TEST " in the test environment) and
  `AC RACINE IGC-SANTE <GAMME>` for the roots (no domain);
- product: a CA is `CA`; under a PERSONNES CA a leaf is a `PERSON` (CPx cards);
  under an ORGANISATIONS CA the key usages and extended key usages decide
  (see `_organisation_product`);
- legacy: the GIP-CPS PKI that IGC Santé replaced (O=GIP-CPS or GIP-CPS-TEST,
  OU=AC-CLASSE-n) is flagged, whatever else it says.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from collections.abc import Collection

    from cryptography import x509

__all__ = [
    "ANS_ENVIRONMENTS",
    "Classification",
    "Domain",
    "Environment",
    "Gamme",
    "NameIndex",
    "Product",
    "ca_gamme_domain",
    "classify",
    "environment_of_ca_name",
    "is_legacy_gip_cps",
    "name_index",
    "name_values",
]


class Environment(enum.StrEnum):
    PRODUCTION = "PRODUCTION"
    TEST = "TEST"
    FIXTURE = "FIXTURE"
    OTHER = "OTHER"


class Gamme(enum.StrEnum):
    ELEMENTAIRE = "ELEMENTAIRE"
    STANDARD = "STANDARD"
    FORT = "FORT"


class Domain(enum.StrEnum):
    ORGANISATIONS = "ORGANISATIONS"
    PERSONNES = "PERSONNES"


class Product(enum.StrEnum):
    ORG_AUTH_CLI = "ORG_AUTH_CLI"
    ORG_SIGN = "ORG_SIGN"
    ORG_CONF = "ORG_CONF"
    SERV_SSL = "SERV_SSL"
    SERV_SMIME = "SERV_SMIME"
    PERSON = "PERSON"
    CA = "CA"
    UNKNOWN = "UNKNOWN"


ANS_ENVIRONMENTS = frozenset({Environment.PRODUCTION, Environment.TEST})
"""Environments whose CAs are ANS's own: only pinned fingerprints may claim them."""

_ENV_BY_OU = {
    "IGC-SANTE": Environment.PRODUCTION,
    "IGC-SANTE TEST": Environment.TEST,
    "IGC-SANTE FIXTURE": Environment.FIXTURE,
}
_CA_CN = re.compile(
    r"(?:(?:TEST|FIXTURE) )?AC (?:(?P<root>RACINE) )?IGC-SANTE "
    r"(?P<gamme>ELEMENTAIRE|STANDARD|FORT)(?: (?P<domain>ORGANISATIONS|PERSONNES))?"
)
_LEGACY_O = frozenset({"GIP-CPS", "GIP-CPS-TEST"})
_LEGACY_OU = re.compile(r"AC-CLASSE-\d(?:-TEST)?")


@dataclass(frozen=True, slots=True)
class Classification:
    environment: Environment
    gamme: Gamme | None
    domain: Domain | None
    product: Product
    legacy_gip_cps: bool


NameIndex: TypeAlias = "dict[x509.ObjectIdentifier, tuple[str, ...]]"
"""The attribute values of a Name by OID, in DN order: read a Name once, query it often."""


def name_index(name: x509.Name) -> NameIndex:
    found: dict[x509.ObjectIdentifier, list[str]] = {}
    for rdn in name.rdns:
        for attribute in rdn:
            value = attribute.value
            text = value if isinstance(value, str) else value.decode("utf-8", "replace")
            found.setdefault(attribute.oid, []).append(text)
    return {oid: tuple(values) for oid, values in found.items()}


def name_values(name: x509.Name | NameIndex, oid: x509.ObjectIdentifier) -> tuple[str, ...]:
    """The string values of the attributes `oid` in `name`, in DN order."""
    index = name if isinstance(name, dict) else name_index(name)
    return index.get(oid, ())


def environment_of_ca_name(name: x509.Name | NameIndex) -> Environment:
    """The environment a CA name claims through its OU."""
    for unit in name_values(name, NameOID.ORGANIZATIONAL_UNIT_NAME):
        env = _ENV_BY_OU.get(unit.strip().upper())
        if env is not None:
            return env
    return Environment.OTHER


def ca_gamme_domain(common_name: str | None) -> tuple[Gamme | None, Domain | None]:
    """Gamme and domain from an IGC Santé CA common name; (None, None) when not one."""
    if not common_name:
        return None, None
    match = _CA_CN.fullmatch(common_name.strip().upper())
    if match is None:
        return None, None
    domain = match.group("domain")
    return Gamme(match.group("gamme")), Domain(domain) if domain else None


def is_legacy_gip_cps(name: x509.Name | NameIndex) -> bool:
    """True for a name of the GIP-CPS PKI (O=GIP-CPS[-TEST] or OU=AC-CLASSE-n)."""
    name = name if isinstance(name, dict) else name_index(name)
    if any(o.strip().upper() in _LEGACY_O for o in name_values(name, NameOID.ORGANIZATION_NAME)):
        return True
    units = name_values(name, NameOID.ORGANIZATIONAL_UNIT_NAME)
    return any(_LEGACY_OU.fullmatch(u.strip().upper()) for u in units)


def classify(
    *,
    subject: x509.Name | NameIndex,
    issuer: x509.Name | NameIndex,
    is_ca: bool,
    key_usage: Collection[str],
    extended_key_usage: Collection[str],
    san: Collection[str],
) -> Classification:
    """Classify a certificate from its names and usages (the names are those of `CertFacts`)."""
    subject = subject if isinstance(subject, dict) else name_index(subject)
    issuer = issuer if isinstance(issuer, dict) else name_index(issuer)
    ca_name = subject if is_ca else issuer
    common_names = name_values(ca_name, NameOID.COMMON_NAME)
    gamme, domain = ca_gamme_domain(common_names[0] if common_names else None)
    legacy = is_legacy_gip_cps(issuer) or (is_ca and is_legacy_gip_cps(subject))
    if is_ca:
        product = Product.CA
    elif domain is Domain.PERSONNES:
        product = Product.PERSON
    else:
        product = _organisation_product(set(key_usage), set(extended_key_usage), san)
    return Classification(
        environment=environment_of_ca_name(ca_name),
        gamme=gamme,
        domain=domain,
        product=product,
        legacy_gip_cps=legacy,
    )


def _organisation_product(ku: set[str], eku: set[str], san: Collection[str]) -> Product:
    """The organisation/server product, from the most to the least specific usage.

    The product names what the certificate is *meant* for; whether it fits the
    profile exactly (a spare key usage, say) is `certmgr.pki.profile`'s business.
    """
    if "serverAuth" in eku:
        return Product.SERV_SSL
    if "clientAuth" in eku:
        return Product.ORG_AUTH_CLI
    if "emailProtection" in eku:
        if any(entry.startswith("email:") for entry in san):
            return Product.SERV_SMIME
        if "nonRepudiation" in ku:
            return Product.ORG_SIGN
        if ku & {"keyEncipherment", "dataEncipherment"}:
            return Product.ORG_CONF
        return Product.UNKNOWN
    if "digitalSignature" not in ku and ku & {"keyEncipherment", "dataEncipherment"}:
        return Product.ORG_CONF
    if ku >= {"digitalSignature", "nonRepudiation"}:
        return Product.ORG_SIGN
    return Product.UNKNOWN
