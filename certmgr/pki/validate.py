"""The validation engine: `Validator(ctx).validate(cert) -> ValidationResult`.

Everything is an explicit, offline input (`ValidationContext`): anchors, an untrusted pool,
CRLs, the time, the revocation mode and the RFC 5280 §6.1.1 policy inputs. The `Validator`
keeps caches across certificates so that a batch of leaves under the same CA costs one
signature verification and one dict lookup per leaf: CRLs are parsed, verified and indexed
once; the §6.1 state after each CA chain is computed once (per chain and path length); the
revocation status of each CA certificate is computed once. `Validator.validate_many` spreads
a batch over all cores (`certmgr.pki.batch`); the certificate side of the work is in
`certmgr.pki.certinfo` and `certmgr.pki.path` (§6.1), the CRL side in `certmgr.pki.crl`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Generic, NamedTuple, TypeAlias, TypeVar, overload

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certmgr.clock import ensure_utc
from certmgr.errors import PKIError
from certmgr.pki import path as p
from certmgr.pki.certinfo import CertInfo
from certmgr.pki.crl import ALL_REASONS, CrlIndex, RevokedEntry, dp_match
from certmgr.pki.findings import Code, Finding, Severity
from certmgr.pki.policy import ANY_POLICY

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable

__all__ = [
    "CrlInput",
    "LazyDers",
    "PathElement",
    "RevocationInfo",
    "RevocationMode",
    "RevocationStatus",
    "ValidationContext",
    "ValidationResult",
    "Validator",
]

CrlInput: TypeAlias = (
    "x509.CertificateRevocationList | bytes | tuple[x509.CertificateRevocationList, bytes]"
)
_MAX_CANDIDATE_PATHS = 16
_MAX_SIGNER_DEPTH = 3
_SCOPE_CACHE_MAX = 4096
_PARALLEL_MIN = 256  # below this, forking workers costs more than it saves


class RevocationMode(enum.StrEnum):
    HARD_FAIL = "hard-fail"  # no usable CRL: invalid
    SOFT_FAIL = "soft-fail"  # no usable CRL: valid, with a warning
    OFF = "off"


class RevocationStatus(enum.StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ValidationContext:
    """The inputs of a validation. `at` is aware UTC (a naive value is taken as UTC)."""

    trust_anchors: tuple[x509.Certificate, ...]
    at: dt.datetime
    untrusted: tuple[x509.Certificate, ...] = ()
    crls: tuple[CrlInput, ...] = ()
    revocation: RevocationMode = RevocationMode.HARD_FAIL
    accept_stale_crl: bool = False
    required_eku: str | None = None
    initial_policy_set: frozenset[str] = frozenset({ANY_POLICY})
    require_explicit_policy: bool = False
    inhibit_policy_mapping: bool = False
    inhibit_any_policy: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "trust_anchors", tuple(self.trust_anchors))
        object.__setattr__(self, "untrusted", tuple(self.untrusted))
        object.__setattr__(self, "crls", tuple(self.crls))
        object.__setattr__(self, "initial_policy_set", frozenset(self.initial_policy_set))
        object.__setattr__(self, "at", ensure_utc(self.at))
        object.__setattr__(self, "revocation", RevocationMode(self.revocation))
        if not self.trust_anchors:
            raise PKIError("validation needs at least one trust anchor")
        if not self.initial_policy_set:
            raise PKIError("the initial policy set must not be empty (use anyPolicy)")


@dataclass(frozen=True, slots=True)
class PathElement:
    subject: str
    fingerprint_sha256: str


@dataclass(frozen=True, slots=True)
class RevocationInfo:
    """The leaf's revocation status; `crl` names the CRL that decided it."""

    status: RevocationStatus
    reason: str | None = None
    revocation_date: dt.datetime | None = None
    crl: str | None = None


@dataclass(frozen=True, slots=True)
class ValidationResult:
    valid: bool
    path: tuple[PathElement, ...]
    findings: tuple[Finding, ...]
    revocation: RevocationInfo | None = None

    def codes(self) -> set[Code]:
        return {f.code for f in self.findings}


@dataclass(slots=True)
class _Caches:
    sig: dict[tuple[str, str], bool] = field(default_factory=dict)
    prefix: dict[tuple[int | bool | str, ...], tuple[p.PathState, list[Finding]]] = field(
        default_factory=dict)
    ca_rev: dict[tuple[str, ...], list[Finding]] = field(default_factory=dict)
    crl_signed: dict[tuple[str, str], Finding | None] = field(default_factory=dict)
    subjects: dict[str, str] = field(default_factory=dict)
    elements: dict[str, PathElement] = field(default_factory=dict)
    good: dict[str, RevocationInfo] = field(default_factory=dict)
    scopes: dict[tuple[bytes, int, bool, str, str, int],
                 tuple[object, _Scope]] = field(default_factory=dict)
    above: dict[tuple[tuple[CertInfo, ...], bool], _Above] = field(default_factory=dict)


class _Above(NamedTuple):
    """A path's CA part: anchor first, the §6.1 parameters, its path elements."""

    down: tuple[CertInfo, ...]
    params: p.PathParams
    elements: tuple[PathElement, ...]


class _Scope(NamedTuple):
    """The CRLs that judge a certificate: notes on the unusable ones, the usable ones with
    the reasons each covers and the delta CRL to apply on top, whether they are stale; and
    the stale CRLs not used, which can still tell that a certificate was revoked."""

    notes: tuple[tuple[Code, str], ...]
    usable: tuple[tuple[CrlIndex, frozenset[str], CrlIndex | None], ...]
    used_stale: bool
    stale: tuple[CrlIndex, ...]


_K = TypeVar("_K")


class LazyDers(Sequence[bytes], Generic[_K]):
    """DER certificates made when indexed: item i is `load(keys[i])` (a file read and
    decoded, say). Given to `Validator.validate_many`, the forked workers then do that work
    for their share, in parallel, instead of the parent before the fork."""

    def __init__(self, keys: Sequence[_K], load: Callable[[_K], bytes]) -> None:
        self._keys = keys
        self._load = load

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> LazyDers[_K]: ...
    def __getitem__(self, index: int | slice) -> bytes | LazyDers[_K]:
        if isinstance(index, slice):
            return LazyDers(self._keys[index], self._load)
        return self._load(self._keys[index])


class Validator:
    """Validates certificates against one `ValidationContext`, caching across calls."""

    def __init__(self, ctx: ValidationContext, *,
                 anchor_findings: Sequence[Finding] = ()) -> None:
        self.ctx = ctx
        self.anchor_findings = tuple(anchor_findings)
        self.params = p.PathParams(
            initial_policy_set=ctx.initial_policy_set,
            require_explicit_policy=ctx.require_explicit_policy,
            inhibit_policy_mapping=ctx.inhibit_policy_mapping,
            inhibit_any_policy=ctx.inhibit_any_policy,
        )
        self._anchors = [CertInfo(c, c.public_bytes(Encoding.DER)) for c in ctx.trust_anchors]
        self._anchor_fps = {a.fp for a in self._anchors}
        self._pool = [CertInfo(c, c.public_bytes(Encoding.DER)) for c in ctx.untrusted]
        self._signers = [*self._anchors, *self._pool]
        self._builder = p.PathBuilder(self._anchors, self._pool)
        self._complete: list[CrlIndex] = []
        self._deltas: list[CrlIndex] = []
        if ctx.revocation is not RevocationMode.OFF:
            for item in ctx.crls:
                idx = (CrlIndex.build(item[0], item[1]) if isinstance(item, tuple)
                       else CrlIndex.build(item))
                (self._deltas if idx.delta_base is not None else self._complete).append(idx)
        self._c = _Caches()
        self._busy: set[str] = set()

    # ------------------------------------------------------------------ entry points
    def validate(self, cert: x509.Certificate, der: bytes | None = None) -> ValidationResult:
        return self._validate(CertInfo(cert, der or cert.public_bytes(Encoding.DER)))

    def validate_der(self, der: bytes) -> ValidationResult:
        try:
            ci = CertInfo.load(der)
        except ValueError as exc:
            return ValidationResult(valid=False, path=(), findings=(Finding(
                Code.MALFORMED, Severity.ERROR, f"not a readable certificate: {exc}"),))
        return self._validate(ci)

    def validate_many(self, ders: Sequence[bytes], *,
                      processes: int | None = None) -> list[ValidationResult]:
        """`[self.validate_der(d) for d in ders]`, on `processes` cores (default: all)
        through `certmgr.pki.batch.validate_many` (see there) when there are enough of them
        to pay for the fork."""
        if len(ders) < _PARALLEL_MIN or processes == 1:
            return [self.validate_der(d) for d in ders]
        # imported here: the batch module imports this one, and only batches need it
        from certmgr.pki.batch import validate_many  # noqa: PLC0415

        return validate_many(self, ders, processes=processes)

    # ------------------------------------------------------------------ path level
    def _subject(self, ci: CertInfo) -> str:
        if not ci.is_ca:  # leaves are seen once: caching them would only cost memory
            return ci.subject
        s = self._c.subjects.get(ci.fp)
        if s is None:
            s = self._c.subjects[ci.fp] = ci.subject
        return s

    def _element(self, ci: CertInfo) -> PathElement:
        if not ci.is_ca:
            return PathElement(ci.subject, ci.fp)
        e = self._c.elements.get(ci.fp)
        if e is None:
            e = self._c.elements[ci.fp] = PathElement(self._subject(ci), ci.fp)
        return e

    def _verify(self, issuer: CertInfo, ci: CertInfo) -> bool:
        if not ci.is_ca:  # a leaf's signature is checked once per path: no cache
            return ci.signed_by(issuer.public_key)
        key = (issuer.fp, ci.fp)
        ok = self._c.sig.get(key)
        if ok is None:
            ok = self._c.sig[key] = ci.signed_by(issuer.public_key)
        return ok

    def _validate(self, ci: CertInfo, *, depth: int = 0,
                  usage: bool = True) -> ValidationResult:
        best: tuple[int, ValidationResult] | None = None
        for cand in islice(self._builder.paths(ci), _MAX_CANDIDATE_PATHS):
            result = self._check_path(cand, depth=depth, usage=usage)
            if result.valid:
                return result
            errors = sum(f.severity is Severity.ERROR for f in result.findings)
            if best is None or errors < best[0]:
                best = (errors, result)
        if best is not None:
            return best[1]
        if ci.fp in self._anchor_fps:
            return self._anchor_only(ci)
        dead = self._builder.dead_end(ci)
        top = dead[-1]
        if top.self_signed():
            finding = Finding(Code.UNTRUSTED_ROOT, Severity.ERROR,
                              "the path ends at a root that is not a trust anchor",
                              self._subject(top))
        else:
            finding = Finding(Code.NO_PATH, Severity.ERROR,
                              f"no issuer found for {self._subject(top)}")
        elements = tuple(PathElement(self._subject(c), c.fp) for c in dead)
        return ValidationResult(valid=False, path=elements, findings=(finding,))

    def _anchor_only(self, ci: CertInfo) -> ValidationResult:
        findings = self._time_findings(ci, None)
        return ValidationResult(not findings, (PathElement(self._subject(ci), ci.fp),),
                                tuple(findings), None)

    def _time_findings(self, ci: CertInfo, subject: str | None) -> list[Finding]:
        at = self.ctx.at
        if at > ci.cert.not_valid_after_utc:
            return [Finding(Code.EXPIRED, Severity.ERROR,
                            f"expired at {ci.cert.not_valid_after_utc}", subject)]
        if at < ci.cert.not_valid_before_utc:
            return [Finding(Code.NOT_YET_VALID, Severity.ERROR,
                            f"not valid before {ci.cert.not_valid_before_utc}", subject)]
        return []

    def _prefix(self, chain: tuple[CertInfo, ...], n: int,
                params: p.PathParams) -> tuple[p.PathState, list[Finding]]:
        """§6.1 state after the anchor (`chain[0]`) and the CA certificates `chain[1:]`."""
        key: tuple[int | bool | str, ...] = (n, params is self.params, *(c.fp for c in chain))
        hit = self._c.prefix.get(key)
        if hit is not None:
            return hit
        anchor = chain[0]
        state = p.start_state(anchor, n, params)
        findings = self._time_findings(anchor, self._subject(anchor))
        for i, ci in enumerate(chain[1:], start=1):
            findings += p.process_certificate(
                state, ci, index=i, at=self.ctx.at, params=params, verify=self._verify,
                subject=self._subject(ci))
        self._c.prefix[key] = (state, findings)
        return state, findings

    def _above(self, cas: tuple[CertInfo, ...], usage: bool) -> _Above:
        """What a path's CA part (`cas`: issuer first, anchor last) gives every certificate
        below it, cached by the objects themselves (the path builder hands out the same
        ones for every leaf of a CA, and hashing them is cheaper than a tuple of hashes)."""
        key = (cas, usage)
        hit = self._c.above.get(key)
        if hit is None:
            down = tuple(reversed(cas))
            params = self.params if usage else p.PathParams()
            hit = self._c.above[key] = _Above(
                down, params, tuple(self._element(c) for c in cas))
        return hit

    def _check_path(self, cand: tuple[CertInfo, ...], *, depth: int,
                    usage: bool) -> ValidationResult:
        leaf, anchor = cand[0], cand[-1]
        above = self._above(cand[1:], usage)
        down = (*above.down, leaf)  # anchor first
        params = above.params
        state, findings = self._prefix(above.down, len(cand) - 1, params)
        state = state.copy()
        findings = list(findings)
        findings += p.process_certificate(state, leaf, index=state.n, at=self.ctx.at,
                                          params=params, verify=self._verify, subject=None)
        if usage:
            findings += p.check_usage(leaf, self.ctx.required_eku)
        info: RevocationInfo | None = None
        if self.ctx.revocation is not RevocationMode.OFF and depth <= _MAX_SIGNER_DEPTH:
            findings += self._ca_revocation(down, depth)
            info, rev = self._revocation(leaf, cand[1], anchor, depth, None)
            findings += rev
        findings += self.anchor_findings
        valid = not any(f.severity is Severity.ERROR for f in findings)
        return ValidationResult(valid, (self._element(leaf), *above.elements), tuple(findings),
                                info)

    # ------------------------------------------------------------------ revocation
    def _ca_revocation(self, down: tuple[CertInfo, ...], depth: int) -> list[Finding]:
        """Revocation findings for the CA certificates of a path (cached per chain)."""
        key = tuple(c.fp for c in down[:-1])
        hit = self._c.ca_rev.get(key)
        if hit is None:
            hit = []
            for i in range(1, len(down) - 1):
                _, rev = self._revocation(down[i], down[i - 1], down[0], depth,
                                          self._subject(down[i]))
                hit += rev
            self._c.ca_rev[key] = hit
        return hit

    def _scope(self, ci: CertInfo, issuer: CertInfo, anchor: CertInfo,
               depth: int) -> _Scope:
        """Which CRLs judge `ci` (with their reasons and delta), and the notes on the others.

        It depends on `ci` only through its issuer name, CRL distribution points and CA flag,
        the same for every leaf of a CA: cached by those (the DPs by identity, as the
        extension cache shares them between leaves).
        """
        if ci.issuer_raw is None:
            return self._find_scope(ci, issuer, anchor, depth)
        key = (ci.issuer_raw, id(ci.crl_dps), bool(ci.is_ca), issuer.fp, anchor.fp, depth)
        hit = self._c.scopes.get(key)
        if hit is not None and hit[0] is ci.crl_dps:  # the entry keeps the DPs alive
            return hit[1]
        scope = self._find_scope(ci, issuer, anchor, depth)
        if len(self._c.scopes) < _SCOPE_CACHE_MAX:
            self._c.scopes[key] = (ci.crl_dps, scope)
        return scope

    def _find_scope(self, ci: CertInfo, issuer: CertInfo, anchor: CertInfo,
                    depth: int) -> _Scope:
        at = self.ctx.at
        notes: list[tuple[Code, str]] = []
        fresh: list[tuple[CrlIndex, frozenset[str]]] = []
        stale: list[tuple[CrlIndex, frozenset[str]]] = []
        for idx in self._complete:
            reasons = dp_match(idx, ci)
            if reasons is None:
                continue
            if idx.unusable:
                notes.append((Code.CRL_UNUSABLE, f"{idx.name}: {idx.unusable}"))
                continue
            problem = self._crl_signed(idx, issuer, anchor, depth)
            if problem is not None:
                notes.append((problem.code, problem.message))
                continue
            if at < idx.this_update:
                notes.append((Code.CRL_NOT_YET_VALID,
                               f"{idx.name} is not valid before {idx.this_update}"))
                continue
            if idx.next_update is not None and at >= idx.next_update:
                notes.append((Code.CRL_STALE, f"{idx.name} expired at {idx.next_update}"))
                stale.append((idx, reasons))
                continue
            fresh.append((idx, reasons))
        used_stale = not fresh and bool(stale) and self.ctx.accept_stale_crl
        usable = stale if used_stale else fresh
        return _Scope(tuple(notes), tuple(
            (idx, reasons, self._delta_for(idx, ci, issuer, anchor, depth))
            for idx, reasons in usable), used_stale,
            () if used_stale else tuple(idx for idx, _ in stale))

    def _revocation(self, ci: CertInfo, issuer: CertInfo, anchor: CertInfo, depth: int,
                    subject: str | None) -> tuple[RevocationInfo, list[Finding]]:
        mode = self.ctx.revocation
        notes, usable, used_stale, stale = self._scope(ci, issuer, anchor, depth)
        covered: set[str] = set()
        for idx, reasons, delta in usable:
            entry = idx.lookup(ci.cert.serial_number, ci.issuer_key)
            if delta is not None:
                d_entry = delta.lookup(ci.cert.serial_number, ci.issuer_key)
                if d_entry is not None:
                    entry = d_entry
            if entry is not None and entry.reason != "removeFromCRL":
                return _revoked(entry, idx, subject, "")
            covered |= reasons
        if usable and covered >= ALL_REASONS:
            name = usable[0][0].name
            out = [Finding(Code.CRL_STALE, Severity.WARNING,
                           f"judged by a stale CRL ({name}, expired at "
                           f"{usable[0][0].next_update})", subject)] if used_stale else []
            good = self._c.good.get(name)
            if good is None:  # one shared (immutable) value per CRL: most leaves are good
                good = self._c.good[name] = RevocationInfo(RevocationStatus.GOOD, crl=name)
            return good, out
        # a stale CRL cannot vouch for a certificate, but a revocation it lists happened: it
        # is not undone by the CRL's age, whatever the mode
        for idx in stale:
            entry = idx.lookup(ci.cert.serial_number, ci.issuer_key)
            if entry is not None and entry.reason != "removeFromCRL":
                return _revoked(entry, idx, subject, f" (a stale CRL, expired at "
                                f"{idx.next_update})")
        sev = Severity.ERROR if mode is RevocationMode.HARD_FAIL else Severity.WARNING
        out = [Finding(code, sev, msg, subject) for code, msg in notes]
        if not out:
            out.append(Finding(Code.CRL_MISSING, sev,
                               "no usable CRL covers this certificate", subject))
        return RevocationInfo(RevocationStatus.UNKNOWN), out

    def _delta_for(self, base: CrlIndex, ci: CertInfo, issuer: CertInfo,
                   anchor: CertInfo, depth: int) -> CrlIndex | None:
        """The newest usable delta CRL that applies on top of `base` (never used alone)."""
        best: CrlIndex | None = None
        for d in self._deltas:
            if (d.issuer_key != base.issuer_key or d.idp != base.idp or d.unusable
                    or base.number is None or d.delta_base is None
                    or d.delta_base > base.number
                    or (d.number is not None and d.number <= base.number)
                    or dp_match(d, ci) is None
                    or self.ctx.at < d.this_update
                    or (d.next_update is not None and self.ctx.at >= d.next_update)
                    or self._crl_signed(d, issuer, anchor, depth) is not None):
                continue
            if best is None or (d.number or 0) > (best.number or 0):
                best = d
        return best

    def _crl_signed(self, idx: CrlIndex, issuer: CertInfo, anchor: CertInfo,
                    depth: int) -> Finding | None:
        """None when `idx` is signed by a key entitled to sign it, else the problem."""
        key = (idx.id, issuer.fp if idx.issuer_key == issuer.subject_key else anchor.fp)
        if key in self._c.crl_signed:
            return self._c.crl_signed[key]
        problem = self._find_crl_signer(idx, issuer, anchor, depth)
        self._c.crl_signed[key] = problem
        return problem

    def _find_crl_signer(self, idx: CrlIndex, issuer: CertInfo, anchor: CertInfo,
                         depth: int) -> Finding | None:
        if idx.issuer_key == issuer.subject_key and idx.signed_by(issuer.public_key):
            if issuer.key_usage is not None and not issuer.key_usage.crl_sign:
                return Finding(Code.CRL_UNUSABLE, Severity.ERROR,
                               f"{idx.name}: the issuer's keyUsage lacks cRLSign")
            return None
        # a separate CRL-signing certificate must chain to the same anchor (§6.3.3 f)
        for signer in self._signers:
            if (signer.subject_key != idx.issuer_key
                    or (signer.key_usage is not None and not signer.key_usage.crl_sign)
                    or not idx.signed_by(signer.public_key)):
                continue
            # the anchor needs no validation; a signer already being validated up the stack
            # is checking its own status against a CRL it signed (PKITS 4.14.30)
            if signer.fp == anchor.fp or signer.fp in self._busy:
                return None
            self._busy.add(signer.fp)
            try:
                res = self._validate(signer, depth=depth + 1, usage=False)
            finally:
                self._busy.discard(signer.fp)
            if res.valid and res.path[-1].fingerprint_sha256 == anchor.fp:
                return None
        return Finding(Code.CRL_BAD_SIGNATURE, Severity.ERROR,
                       f"{idx.name}: not signed by a key entitled to sign it")


def _revoked(entry: RevokedEntry, idx: CrlIndex, subject: str | None,
             note: str) -> tuple[RevocationInfo, list[Finding]]:
    msg = (f"revoked on {entry.date.isoformat()} ({entry.reason or 'unspecified'}) by "
           f"{idx.name}{note}")
    info = RevocationInfo(RevocationStatus.REVOKED, entry.reason, entry.date, idx.name)
    return info, [Finding(Code.REVOKED, Severity.ERROR, msg, subject)]
