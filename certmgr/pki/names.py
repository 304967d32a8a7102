"""Distinguished-name comparison and RFC 5280 name constraints (§4.2.1.10, §6.1.3 b-c, §7.1).

Names are compared through `name_key`: the sequence of RDNs, each a sorted tuple of
(attribute OID, value) where string values are case-folded with their inner white space
collapsed (the RFC 4518 "caseIgnoreMatch" in practice), so that PKITS 4.3.3-4.3.11 chain.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["NameConstraintSet", "NameKey", "allowed", "name_key", "subject_names"]

RdnKey: TypeAlias = "tuple[tuple[str, str | bytes], ...]"
NameKey: TypeAlias = "tuple[RdnKey, ...]"


def _norm(value: str | bytes) -> str | bytes:
    if isinstance(value, bytes):
        return value
    return " ".join(value.split()).casefold()


def name_key(name: x509.Name) -> NameKey:
    """A hashable comparison key for `name` (RFC 5280 §7.1 matching, order-sensitive)."""
    return tuple(
        tuple(sorted((a.oid.dotted_string, _norm(a.value)) for a in rdn)) for rdn in name.rdns
    )


@dataclass(frozen=True, slots=True)
class NameConstraintSet:
    """The permitted and excluded subtrees of one certificate's nameConstraints."""

    permitted: tuple[x509.GeneralName, ...] | None
    excluded: tuple[x509.GeneralName, ...]

    @classmethod
    def from_extension(cls, ext: x509.NameConstraints) -> NameConstraintSet:
        permitted = None if ext.permitted_subtrees is None else tuple(ext.permitted_subtrees)
        return cls(permitted=permitted, excluded=tuple(ext.excluded_subtrees or ()))


def subject_names(subject: x509.Name, san: Sequence[x509.GeneralName]) -> list[x509.GeneralName]:
    """The names of a certificate that name constraints apply to (§6.1.3 b-c).

    The subject DN when not empty, every SAN entry, and the emailAddress attributes of the
    subject as rfc822Names (RFC 5280 §4.2.1.10 asks for them when no SAN rfc822Name exists).
    """
    names: list[x509.GeneralName] = []
    if subject.rdns:
        names.append(x509.DirectoryName(subject))
    names.extend(san)
    if not any(isinstance(n, x509.RFC822Name) for n in san):
        names.extend(
            x509.RFC822Name(attr.value)
            for attr in subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
            if isinstance(attr.value, str)
        )
    return names


def _dns_match(name: str, base: str) -> bool:
    name, base = name.lower().rstrip("."), base.lower().rstrip(".")
    if not base:
        return True
    if base.startswith("."):
        return name.endswith(base)
    return name == base or name.endswith("." + base)


def _host_match(host: str, base: str) -> bool:
    # rfc822Name and URI constraints: a leading dot means "any subdomain", else exact host
    host, base = host.lower(), base.lower()
    if base.startswith("."):
        return host.endswith(base)
    return host == base


def _email_match(addr: str, base: str) -> bool:
    if "@" in base:
        return addr.lower() == base.lower()  # a full mailbox (local part compared loosely)
    return _host_match(addr.rpartition("@")[2], base)


def _uri_match(uri: str, base: str) -> bool:
    host = urlsplit(uri).hostname or ""
    return bool(host) and _host_match(host, base)


def _dn_match(name: x509.Name, base: x509.Name) -> bool:
    nk, bk = name_key(name), name_key(base)
    return nk[: len(bk)] == bk


def _ip_match(addr: object, base: object) -> bool:
    if isinstance(addr, ipaddress.IPv4Address | ipaddress.IPv6Address) and isinstance(
        base, ipaddress.IPv4Network | ipaddress.IPv6Network
    ):
        return addr.version == base.version and addr in base
    return False


def _matches(name: x509.GeneralName, base: x509.GeneralName) -> bool | None:
    """Whether `name` lies in subtree `base`; None when the two are of different types."""
    if type(name) is not type(base):
        return None
    if isinstance(name, x509.DirectoryName) and isinstance(base, x509.DirectoryName):
        return _dn_match(name.value, base.value)
    if isinstance(name, x509.RFC822Name) and isinstance(base, x509.RFC822Name):
        return _email_match(name.value, base.value)
    if isinstance(name, x509.DNSName) and isinstance(base, x509.DNSName):
        return _dns_match(name.value, base.value)
    if isinstance(name, x509.UniformResourceIdentifier) and isinstance(
        base, x509.UniformResourceIdentifier
    ):
        return _uri_match(name.value, base.value)
    if isinstance(name, x509.IPAddress) and isinstance(base, x509.IPAddress):
        return _ip_match(name.value, base.value)
    return None  # other forms (otherName, registeredID...) are not constrained here


def allowed(names: Iterable[x509.GeneralName], sets: Sequence[NameConstraintSet]) -> str | None:
    """Check `names` against every accumulated constraint set; a reason string when refused.

    Permitted subtrees intersect across certificates: a name must fall within each set that
    constrains its type. Excluded subtrees unite: any match refuses the name.
    """
    for name in names:
        for cs in sets:
            for base in cs.excluded:
                if _matches(name, base):
                    return f"{_show(name)} is in an excluded subtree"
            if cs.permitted is None:
                continue
            results = [_matches(name, base) for base in cs.permitted]
            typed = [r for r in results if r is not None]
            if typed and not any(typed):
                return f"{_show(name)} is outside the permitted subtrees"
    return None


def _show(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DirectoryName):
        return f"DN {name.value.rfc4514_string()}"
    return f"{type(name).__name__} {name.value}"
