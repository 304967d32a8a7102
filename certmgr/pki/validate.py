"""The validation engine: `Validator(ctx).validate(cert) -> ValidationResult`.

Everything is an explicit, offline input (`ValidationContext`): anchors, an untrusted pool,
CRLs, the time, the revocation mode and the RFC 5280 §6.1.1 policy inputs. The `Validator`
keeps caches across certificates so that a batch of leaves under the same CA costs one
signature verification and one dict lookup per leaf: CRLs are parsed, verified and indexed
once; the §6.1 state after each CA chain is computed once (per chain and path length); the
revocation status of each CA certificate is computed once.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import gc
import multiprocessing
import os
from dataclasses import dataclass, field
from itertools import islice
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certmgr.clock import ensure_utc
from certmgr.errors import PKIError
from certmgr.pki import path as p
from certmgr.pki.crl import ALL_REASONS, CrlIndex, dp_match
from certmgr.pki.findings import Code, Finding, Severity
from certmgr.pki.policy import ANY_POLICY

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

__all__ = [
    "CrlInput",
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
_PARALLEL_MIN = 256
_CHUNK_MAX = 256
_CHUNK_MIN = 16
_PACK_MEMO_MAX = 1024
_SCOPE_CACHE_MAX = 4096
_PIPE_SIZE = 1 << 20


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
    above: dict[tuple[tuple[p.CertInfo, ...], bool], _Above] = field(default_factory=dict)


class _Above(NamedTuple):
    """A path's CA part: anchor first, the §6.1 parameters, its path elements."""

    down: tuple[p.CertInfo, ...]
    params: p.PathParams
    elements: tuple[PathElement, ...]


class _Scope(NamedTuple):
    """The CRLs that judge a certificate: notes on the unusable ones, the usable ones with
    the reasons each covers and the delta CRL to apply on top, whether they are stale."""

    notes: tuple[tuple[Code, str], ...]
    usable: tuple[tuple[CrlIndex, frozenset[str], CrlIndex | None], ...]
    used_stale: bool


# What a forked worker sends back per certificate: plain tuples pickle several times faster
# than the frozen dataclasses, and the parent shares the equal parts (CA path elements,
# revocation info) between results when it rebuilds them.
_PackedFinding: TypeAlias = "tuple[str, int, str, str | None]"
_PackedRevocation: TypeAlias = (
    "tuple[str, str | None, dt.datetime | None, str | None] | None"
)
_Packed: TypeAlias = (
    "tuple[bool, tuple[tuple[str, str], ...], tuple[_PackedFinding, ...], _PackedRevocation]"
)
_WORK: _Batch | None = None


@dataclass(slots=True)
class _Batch:
    """One `validate_many` run, shared with the forked workers: spans are handed out by a
    counter in shared memory, so that the parent and its workers take the next span when
    they are free."""

    validator: Validator
    ders: Sequence[bytes]
    spans: list[tuple[int, int]]
    counter: Any  # a multiprocessing RawValue("q")
    lock: Any  # a multiprocessing Lock

    def take(self) -> int | None:
        with self.lock:
            k = self.counter.value
            if k >= len(self.spans):
                return None
            self.counter.value = k + 1
        return int(k)


def _worker(conn: Connection) -> None:
    """A forked worker: validate spans until none is left, sending `(span, packed results)`."""
    assert _WORK is not None
    batch, pack = _WORK, _Packer()
    try:
        while (k := batch.take()) is not None:
            start, stop = batch.spans[k]
            conn.send((k, [pack(batch.validator.validate_der(batch.ders[i]))
                           for i in range(start, stop)]))
    finally:
        conn.close()


@dataclass(slots=True)
class _Packer:
    """`ValidationResult` -> `_Packed`. The parts a batch repeats (the CA path elements, no
    findings, the shared "good" revocation info) are the same objects from one result to the
    next: they are packed once, and pickle then sends them once per chunk."""

    elements: dict[int, tuple[PathElement, tuple[str, str]]] = field(default_factory=dict)
    revocations: dict[int, tuple[RevocationInfo, _PackedRevocation]] = field(
        default_factory=dict)

    def __call__(self, r: ValidationResult) -> _Packed:
        path = r.path  # the leaf's element is new in every result: not memoised
        return (r.valid, ((path[0].subject, path[0].fingerprint_sha256),
                          *[self._element(e) for e in path[1:]]) if path else (),
                tuple((f.code.value, int(f.severity), f.message, f.subject) for f in r.findings)
                if r.findings else (),
                self._revocation(r.revocation))

    def _element(self, e: PathElement) -> tuple[str, str]:
        hit = self.elements.get(id(e))
        if hit is not None and hit[0] is e:  # the entry keeps `e` alive: its id is unique
            return hit[1]
        packed = (e.subject, e.fingerprint_sha256)
        if len(self.elements) < _PACK_MEMO_MAX:
            self.elements[id(e)] = (e, packed)
        return packed

    def _revocation(self, rev: RevocationInfo | None) -> _PackedRevocation:
        if rev is None:
            return None
        hit = self.revocations.get(id(rev))
        if hit is not None and hit[0] is rev:
            return hit[1]
        packed = (rev.status.value, rev.reason, rev.revocation_date, rev.crl)
        if len(self.revocations) < _PACK_MEMO_MAX:
            self.revocations[id(rev)] = (rev, packed)
        return packed


@dataclass(slots=True)
class _Unpacker:
    """Rebuilds results from `_Packer` tuples, sharing equal immutable parts between them."""

    elements: dict[tuple[str, str], PathElement] = field(default_factory=dict)
    above: dict[tuple[tuple[str, str], ...], tuple[PathElement, ...]] = field(
        default_factory=dict)
    findings: dict[tuple[_PackedFinding, ...], tuple[Finding, ...]] = field(default_factory=dict)
    revocations: dict[_PackedRevocation, RevocationInfo | None] = field(default_factory=dict)

    def __call__(self, packed: _Packed) -> ValidationResult:
        valid, path, findings, rev = packed
        elements: tuple[PathElement, ...] = ()
        if path:
            rest = path[1:]
            above = self.above.get(rest)
            if above is None:
                above = self.above[rest] = tuple(self._element(e) for e in rest)
            elements = (PathElement(*path[0]), *above)
        found = self.findings.get(findings)
        if found is None:
            found = self.findings[findings] = tuple(
                Finding(Code(c), Severity(sev), msg, subj) for c, sev, msg, subj in findings)
        if rev in self.revocations:
            info = self.revocations[rev]
        else:
            info = self.revocations[rev] = None if rev is None else RevocationInfo(
                RevocationStatus(rev[0]), rev[1], rev[2], rev[3])
        return ValidationResult(valid, elements, found, info)

    def _element(self, e: tuple[str, str]) -> PathElement:
        el = self.elements.get(e)
        if el is None:
            el = self.elements[e] = PathElement(*e)
        return el


def _widen(conn: Connection) -> None:
    """Give a worker's pipe room for several spans of results (Linux; best effort), so that
    the worker does not wait while the parent validates a span of its own."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(conn.fileno(), set_size, _PIPE_SIZE)


def _spans(start: int, stop: int, workers: int) -> list[tuple[int, int]]:
    """Spans of shrinking size (guided scheduling): large ones first amortise the IPC, small
    ones last leave no worker long alone at the end."""
    out: list[tuple[int, int]] = []
    i = start
    while i < stop:
        size = min(_CHUNK_MAX, max(_CHUNK_MIN, (stop - i) // (workers * 4)))
        out.append((i, min(i + size, stop)))
        i += size
    return out


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
        self._anchors = [p.CertInfo(c, c.public_bytes(Encoding.DER)) for c in ctx.trust_anchors]
        self._anchor_fps = {a.fp for a in self._anchors}
        self._pool = [p.CertInfo(c, c.public_bytes(Encoding.DER)) for c in ctx.untrusted]
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
        return self._validate(p.CertInfo(cert, der or cert.public_bytes(Encoding.DER)))

    def validate_der(self, der: bytes) -> ValidationResult:
        try:
            ci = p.CertInfo.load(der)
        except ValueError as exc:
            return ValidationResult(valid=False, path=(), findings=(Finding(
                Code.MALFORMED, Severity.ERROR, f"not a readable certificate: {exc}"),))
        return self._validate(ci)

    def validate_many(self, ders: Sequence[bytes], *,
                      processes: int | None = None) -> list[ValidationResult]:
        """Validate many DER certificates, in `processes` forked workers (default: all cores).

        Caches are warmed by validating the first certificate here, before forking, so the
        workers inherit the parsed CRLs and the CA chain state. The parent is one of the
        `processes` workers (no third process competes for the cores, and its own results
        cross no pipe); the others send compact tuples back. The workers index `ders`
        themselves (inherited through fork, never pickled): a sequence that reads and decodes
        a file when indexed spreads that work over the workers too. Results are the same, in
        the same order, as `[self.validate_der(d) for d in ders]`; the share of a worker
        that dies is validated here.
        """
        global _WORK  # noqa: PLW0603 - the forked workers read the batch from here
        n = processes or os.cpu_count() or 1
        if (n <= 1 or len(ders) < _PARALLEL_MIN
                or "fork" not in multiprocessing.get_all_start_methods()):
            return [self.validate_der(d) for d in ders]
        out: list[ValidationResult | None] = [None] * len(ders)
        out[0] = self.validate_der(ders[0])
        mp = multiprocessing.get_context("fork")
        batch = _WORK = _Batch(self, ders, _spans(1, len(ders), n), mp.RawValue("q", 0),
                               mp.Lock())
        # move the caches out of the collector's reach so that the children's collections
        # do not touch (and so copy) every inherited page
        gc.freeze()
        try:
            readers, workers = [], []
            for _ in range(n - 1):  # the parent is the n-th worker
                reader, writer = mp.Pipe(duplex=False)
                _widen(writer)
                worker = mp.Process(target=_worker, args=(writer,), daemon=True)
                worker.start()
                writer.close()
                readers.append(reader)
                workers.append(worker)
            done = self._run_batch(batch, out, readers)
            for worker in workers:
                worker.join()
            for k in set(range(len(batch.spans))) - done:  # a worker died: do its share here
                start, stop = batch.spans[k]
                out[start:stop] = [self.validate_der(ders[i]) for i in range(start, stop)]
        finally:
            _WORK = None
            gc.unfreeze()
        results = [r for r in out if r is not None]
        assert len(results) == len(ders), "every span is validated once"
        return results

    def _run_batch(self, batch: _Batch, out: list[ValidationResult | None],
                   readers: list[Connection]) -> set[int]:
        """Validate spans here while the workers do, then collect theirs; the spans done."""
        unpack = _Unpacker()
        done: set[int] = set()

        def collect(timeout: float | None) -> None:
            for reader in wait(readers, timeout):
                assert isinstance(reader, Connection)
                try:
                    k, packed = reader.recv()
                except EOFError:  # that worker is finished (or dead)
                    readers.remove(reader)
                    continue
                start, stop = batch.spans[k]
                out[start:stop] = [unpack(r) for r in packed]
                done.add(k)

        # the parent's own results need no packing; it takes in the workers' results
        # between its spans, so that their pipes never stay full
        while (k := batch.take()) is not None:
            start, stop = batch.spans[k]
            out[start:stop] = [self.validate_der(batch.ders[i]) for i in range(start, stop)]
            done.add(k)
            collect(0)
        while readers:
            collect(None)
        return done

    # ------------------------------------------------------------------ path level
    def _subject(self, ci: p.CertInfo) -> str:
        if not ci.is_ca:  # leaves are seen once: caching them would only cost memory
            return ci.subject
        s = self._c.subjects.get(ci.fp)
        if s is None:
            s = self._c.subjects[ci.fp] = ci.subject
        return s

    def _element(self, ci: p.CertInfo) -> PathElement:
        if not ci.is_ca:
            return PathElement(ci.subject, ci.fp)
        e = self._c.elements.get(ci.fp)
        if e is None:
            e = self._c.elements[ci.fp] = PathElement(self._subject(ci), ci.fp)
        return e

    def _verify(self, issuer: p.CertInfo, ci: p.CertInfo) -> bool:
        if not ci.is_ca:  # a leaf's signature is checked once per path: no cache
            return ci.signed_by(issuer.public_key)
        key = (issuer.fp, ci.fp)
        ok = self._c.sig.get(key)
        if ok is None:
            ok = self._c.sig[key] = ci.signed_by(issuer.public_key)
        return ok

    def _validate(self, ci: p.CertInfo, *, depth: int = 0,
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

    def _anchor_only(self, ci: p.CertInfo) -> ValidationResult:
        findings = self._time_findings(ci, None)
        return ValidationResult(not findings, (PathElement(self._subject(ci), ci.fp),),
                                tuple(findings), None)

    def _time_findings(self, ci: p.CertInfo, subject: str | None) -> list[Finding]:
        at = self.ctx.at
        if at > ci.cert.not_valid_after_utc:
            return [Finding(Code.EXPIRED, Severity.ERROR,
                            f"expired at {ci.cert.not_valid_after_utc}", subject)]
        if at < ci.cert.not_valid_before_utc:
            return [Finding(Code.NOT_YET_VALID, Severity.ERROR,
                            f"not valid before {ci.cert.not_valid_before_utc}", subject)]
        return []

    def _prefix(self, chain: tuple[p.CertInfo, ...], n: int,
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

    def _above(self, cas: tuple[p.CertInfo, ...], usage: bool) -> _Above:
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

    def _check_path(self, cand: tuple[p.CertInfo, ...], *, depth: int,
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
    def _ca_revocation(self, down: tuple[p.CertInfo, ...], depth: int) -> list[Finding]:
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

    def _scope(self, ci: p.CertInfo, issuer: p.CertInfo, anchor: p.CertInfo,
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

    def _find_scope(self, ci: p.CertInfo, issuer: p.CertInfo, anchor: p.CertInfo,
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
            for idx, reasons in usable), used_stale)

    def _revocation(self, ci: p.CertInfo, issuer: p.CertInfo, anchor: p.CertInfo, depth: int,
                    subject: str | None) -> tuple[RevocationInfo, list[Finding]]:
        mode = self.ctx.revocation
        notes, usable, used_stale = self._scope(ci, issuer, anchor, depth)
        covered: set[str] = set()
        for idx, reasons, delta in usable:
            entry = idx.lookup(ci.cert.serial_number, ci.issuer_key)
            if delta is not None:
                d_entry = delta.lookup(ci.cert.serial_number, ci.issuer_key)
                if d_entry is not None:
                    entry = d_entry
            if entry is not None and entry.reason != "removeFromCRL":
                when = entry.date.isoformat()
                msg = f"revoked on {when} ({entry.reason or 'unspecified'}) by {idx.name}"
                info = RevocationInfo(RevocationStatus.REVOKED, entry.reason, entry.date,
                                      idx.name)
                return info, [Finding(Code.REVOKED, Severity.ERROR, msg, subject)]
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
        sev = Severity.ERROR if mode is RevocationMode.HARD_FAIL else Severity.WARNING
        out = [Finding(code, sev, msg, subject) for code, msg in notes]
        if not out:
            out.append(Finding(Code.CRL_MISSING, sev,
                               "no usable CRL covers this certificate", subject))
        return RevocationInfo(RevocationStatus.UNKNOWN), out

    def _delta_for(self, base: CrlIndex, ci: p.CertInfo, issuer: p.CertInfo,
                   anchor: p.CertInfo, depth: int) -> CrlIndex | None:
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

    def _crl_signed(self, idx: CrlIndex, issuer: p.CertInfo, anchor: p.CertInfo,
                    depth: int) -> Finding | None:
        """None when `idx` is signed by a key entitled to sign it, else the problem."""
        key = (idx.id, issuer.fp if idx.issuer_key == issuer.subject_key else anchor.fp)
        if key in self._c.crl_signed:
            return self._c.crl_signed[key]
        problem = self._find_crl_signer(idx, issuer, anchor, depth)
        self._c.crl_signed[key] = problem
        return problem

    def _find_crl_signer(self, idx: CrlIndex, issuer: p.CertInfo, anchor: p.CertInfo,
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
