"""Path building and RFC 5280 §6.1 processing, over `certmgr.pki.certinfo.CertInfo`.

`PathBuilder` enumerates candidate paths from a certificate to a trust anchor over an
untrusted pool (name chaining, then AKI/SKI to order the candidates; loops avoided; depth
bounded). `PathState` and `process_certificate` carry the §6.1 state variables (working key
and issuer, max_path_length, name constraints, the valid policy tree and its three counters)
so that the state after a CA chain can be cached and then extended per leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from certmgr.pki import names, policy
from certmgr.pki.der import NAME_CACHE_MAX
from certmgr.pki.findings import Code, Finding, Severity

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterator

    from certmgr.pki.certinfo import CertInfo

__all__ = [
    "EKU_NAMES",
    "PathBuilder",
    "PathParams",
    "PathState",
    "check_usage",
    "process_certificate",
    "start_state",
]

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
    if len(_POLICY_STEPS) < NAME_CACHE_MAX:
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
