"""Binding rules: which mailbox an imported leaf certificate belongs to, and how it is bound.

Rules (settings extra `binding_rules`, in order; default `["cn", "san-email", "map"]`):
- `cn`: the certificate's CN, lower-cased, equals a mailbox address;
- `san-email`: a SAN rfc822Name equals a mailbox address;
- `map`: `[binding_map]` in config.toml maps a certificate CN or SHA-256 fingerprint
  (keys compared lower-cased, colons dropped) to an address.
Every address found is bound (usually one); archived and unknown mailboxes are skipped.

How a leaf is bound to a mailbox (`bind_certificate`), history kept through `unbound_at`:
- the pair is already bound (any role): nothing changes;
- the mailbox has no current certificate: the leaf becomes CURRENT (even expired: the
  mailbox then shows EXPIRED rather than NO_CERTIFICATE);
- the leaf is newer than the current one (later not_after) and valid at `at`: it becomes
  CURRENT and the old one PREVIOUS (`unbound_at = at`);
- newer but not yet valid at `at`: it becomes NEXT (an older NEXT becomes PREVIOUS);
- otherwise (older, or newer but already expired): it is recorded as PREVIOUS, bound and
  unbound at `at`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from certmgr.errors import ConfigError
from certmgr.store.audit import append_event
from certmgr.store.enums import BindingRole
from certmgr.store.models import Binding, Certificate, Mailbox

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.config import Settings
    from certmgr.pki.facts import CertFacts

__all__ = [
    "DEFAULT_RULES",
    "RULES",
    "BindOutcome",
    "BindingRules",
    "bind_certificate",
    "find_mailboxes",
]

RULES = ("cn", "san-email", "map")
DEFAULT_RULES = RULES


def _key(text: str) -> str:
    return text.replace(":", "").strip().lower()


@dataclass(frozen=True, slots=True)
class BindingRules:
    """Which rules apply, and the explicit map (CN or fingerprint -> address)."""

    rules: tuple[str, ...] = DEFAULT_RULES
    mapping: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [r for r in self.rules if r not in RULES]
        if unknown:
            raise ConfigError(f"unknown binding rule(s) {', '.join(unknown)} "
                              f"(known: {', '.join(RULES)})")
        object.__setattr__(self, "mapping", {_key(k): v.strip().lower()
                                             for k, v in self.mapping.items()})

    @classmethod
    def from_settings(cls, settings: Settings) -> BindingRules:
        """From `settings.extra`: `binding_rules` (list) and `binding_map` (table)."""
        raw_rules: Any = settings.extra.get("binding_rules", list(DEFAULT_RULES))
        raw_map: Any = settings.extra.get("binding_map", {})
        if not isinstance(raw_rules, list) or not all(isinstance(r, str) for r in raw_rules):
            raise ConfigError("binding_rules must be a list of rule names",
                              source=settings.config_file)
        if not isinstance(raw_map, dict) or not all(
                isinstance(v, str) for v in raw_map.values()):
            raise ConfigError("binding_map must be a table of CN or fingerprint = address",
                              source=settings.config_file)
        return cls(rules=tuple(raw_rules), mapping=raw_map)

    def addresses(self, facts: CertFacts) -> tuple[str, ...]:
        """The mailbox addresses `facts` claims under these rules, in rule order, no repeats."""
        found: list[str] = []
        for rule in self.rules:
            if rule == "cn" and facts.common_name:
                found.append(facts.common_name.strip().lower())
            elif rule == "san-email":
                found += [s[6:].strip().lower() for s in facts.san if s.startswith("email:")]
            elif rule == "map":
                for key in (facts.fingerprint_sha256, facts.common_name or ""):
                    if key and _key(key) in self.mapping:
                        found.append(self.mapping[_key(key)])
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class BindOutcome:
    """What binding one certificate to one mailbox did."""

    address: str
    role: BindingRole | None
    """The new binding's role; None when the pair was already bound."""
    replaced: str | None = None
    """Fingerprint of the certificate that lost its CURRENT (or NEXT) role."""

    def to_json(self) -> dict[str, Any]:
        return {"mailbox": self.address, "role": None if self.role is None else str(self.role),
                "already_bound": self.role is None, "replaced": self.replaced}


def _valid_at(cert: Certificate, at: dt.datetime) -> bool:
    return cert.not_before <= at <= cert.not_after


def _demote(session: Session, binding: Binding, *, at: dt.datetime) -> str:
    binding.role = BindingRole.PREVIOUS
    binding.unbound_at = at
    session.add(binding)
    session.flush()  # the one-CURRENT-per-mailbox index must see the old row demoted first
    old = session.get(Certificate, binding.certificate_id)
    return "" if old is None else old.fingerprint_sha256


def _role_for(session: Session, cert: Certificate, live: Sequence[Binding], *,
              at: dt.datetime) -> tuple[BindingRole, str | None]:
    by_role = {b.role: b for b in live}
    current = by_role.get(BindingRole.CURRENT)
    if current is None:
        return BindingRole.CURRENT, None
    current_cert = session.get(Certificate, current.certificate_id)
    assert current_cert is not None
    if cert.not_after <= current_cert.not_after:
        return BindingRole.PREVIOUS, None
    if _valid_at(cert, at):
        return BindingRole.CURRENT, _demote(session, current, at=at)
    if cert.not_before > at:
        nxt = by_role.get(BindingRole.NEXT)
        if nxt is None:
            return BindingRole.NEXT, None
        next_cert = session.get(Certificate, nxt.certificate_id)
        if next_cert is not None and cert.not_after <= next_cert.not_after:
            return BindingRole.PREVIOUS, None
        return BindingRole.NEXT, _demote(session, nxt, at=at)
    return BindingRole.PREVIOUS, None


def bind_certificate(session: Session, *, mailbox: Mailbox, certificate: Certificate,
                     at: dt.datetime, actor: str, source: str | None = None) -> BindOutcome:
    """Bind `certificate` to `mailbox` by the rules of the module docstring, in the caller's
    transaction, with a `binding.created` audit event (its details name the certificate
    that lost its CURRENT or NEXT role, if any)."""
    assert mailbox.id is not None
    assert certificate.id is not None
    rows = session.scalars(select(Binding).where(col(Binding.mailbox_id) == mailbox.id)).all()
    if any(b.certificate_id == certificate.id for b in rows):
        return BindOutcome(mailbox.address, None)
    live = [b for b in rows if b.unbound_at is None and b.role is not BindingRole.PREVIOUS]
    role, replaced = _role_for(session, certificate, live, at=at)
    binding = Binding(mailbox_id=mailbox.id, certificate_id=certificate.id, role=role,
                      bound_at=at, unbound_at=at if role is BindingRole.PREVIOUS else None)
    session.add(binding)
    session.flush()
    details = {"mailbox": mailbox.address, "fingerprint": certificate.fingerprint_sha256,
               "role": str(role), "source": source}
    if replaced:
        details["replaced"] = replaced
    append_event(session, actor=actor, action="binding.created", at=at,
                 object_type="binding", object_id=binding.id, details=details)
    return BindOutcome(mailbox.address, role, replaced or None)


def find_mailboxes(session: Session, addresses: Sequence[str]) -> list[Mailbox]:
    """The active mailboxes among `addresses` (unknown and archived ones skipped)."""
    if not addresses:
        return []
    rows = session.scalars(select(Mailbox).where(col(Mailbox.address).in_(list(addresses)),
                                              col(Mailbox.archived).is_(False))).all()
    order = {a: i for i, a in enumerate(addresses)}
    return sorted(rows, key=lambda m: order[m.address])
