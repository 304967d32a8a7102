"""Validate certificate files: the use case behind `certmgr verify` (and the TUI's file check).

Inputs are files (any format `certmgr.pki.load` reads); trust anchors, intermediates and CRLs
are explicit. Unreadable trust, intermediate or CRL files raise `InputError` (nothing is
validated); an unreadable certificate file becomes a `VerifyFailure` in the report and the
others are still validated.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _json_string
from pathlib import Path
from typing import Any

from cryptography import x509

from certmgr.clock import ensure_utc
from certmgr.errors import InputError, ParseError
from certmgr.pki.anchors import TrustStore, impostor_finding, is_impostor
from certmgr.pki.facts import certificate_facts
from certmgr.pki.findings import Code, Finding, Severity
from certmgr.pki.load import LoadedCertificate, load_bundle, read_input
from certmgr.pki.profile import check_profile, get_profile
from certmgr.pki.validate import (
    LazyDers,
    PathElement,
    RevocationInfo,
    RevocationMode,
    ValidationContext,
    ValidationResult,
    Validator,
)

__all__ = [
    "CertVerdict",
    "JsonLines",
    "VerifyFailure",
    "VerifyReport",
    "VerifyRequest",
    "batch_files",
    "collect_batch",
    "verify_files",
]

_PEM_HEAD = b"-----BEGIN CERTIFICATE-----"
_PEM_TAIL = b"-----END CERTIFICATE-----"
_SMALL_FILE = 1 << 16  # a single PEM certificate is a few KiB; larger files go the slow way


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """What to validate and against what. `trust`, `untrusted` and `crls` are files, or
    directories whose every file is read. `revocation` None means the documented default:
    hard-fail when CRLs are given, soft-fail otherwise. `certificates` may be str paths
    (`batch_files` gives them: cheaper than `Path` objects by the thousand)."""

    certificates: tuple[Path | str, ...]
    trust: tuple[Path, ...]
    untrusted: tuple[Path, ...] = ()
    crls: tuple[Path, ...] = ()
    revocation: RevocationMode | None = None
    profile: str | None = None
    accept_stale_crl: bool = False
    passphrase: bytes | None = None
    processes: int | None = None

    def __post_init__(self) -> None:
        if self.profile is not None:
            get_profile(self.profile)  # refuses an unknown name before any work

    @property
    def revocation_mode(self) -> RevocationMode:
        if self.revocation is not None:
            return self.revocation
        return RevocationMode.HARD_FAIL if self.crls else RevocationMode.SOFT_FAIL


@dataclass(frozen=True, slots=True)
class CertVerdict:
    """The judgement on one certificate of one file."""

    source: str
    fingerprint_sha256: str
    subject: str
    valid: bool
    path: tuple[PathElement, ...]
    findings: tuple[Finding, ...]
    revocation: RevocationInfo | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "fingerprint": self.fingerprint_sha256,
            "subject": self.subject,
            "valid": self.valid,
            "path": [_element_json(e) for e in self.path],
            "findings": [f.to_json() for f in self.findings],
            "revocation": _revocation_json(self.revocation),
        }


def _element_json(e: PathElement) -> dict[str, Any]:
    return {"subject": e.subject, "fingerprint": e.fingerprint_sha256}


def _revocation_json(rev: RevocationInfo | None) -> dict[str, Any] | None:
    return None if rev is None else {
        "status": str(rev.status),
        "reason": rev.reason,
        "revocation_date": None if rev.revocation_date is None else (
            rev.revocation_date.isoformat()),
        "crl": rev.crl,
    }


class JsonLines:
    """One JSON line per verdict, the same text as `json.dumps(verdict.to_json(),
    ensure_ascii=False)` (a test checks it), faster: the parts a batch repeats (the CA path
    elements, the shared revocation info, equal findings) are encoded once and reused by
    identity, and strings go straight to the C encoder."""

    _MEMO_MAX = 4096

    def __init__(self) -> None:
        self._memo: dict[int, tuple[object, str]] = {}
        self._dumps = json.JSONEncoder(ensure_ascii=False).encode

    def line(self, v: CertVerdict) -> str:
        s = _json_string
        path = v.path
        leaf = (f'{{"subject": {s(path[0].subject)}, '
                f'"fingerprint": {s(path[0].fingerprint_sha256)}}}') if path else ""
        parts = [leaf] if path else []
        parts += [self._once(e, _element_json) for e in path[1:]]
        findings = self._once(v.findings, lambda fs: ", ".join(
            self._dumps(f.to_json()) for f in fs)) if v.findings else ""
        rev = self._once(v.revocation, _revocation_json)
        return (f'{{"file": {s(v.source)}, "fingerprint": {s(v.fingerprint_sha256)}, '
                f'"subject": {s(v.subject)}, "valid": {"true" if v.valid else "false"}, '
                f'"path": [{", ".join(parts)}], "findings": [{findings}], "revocation": {rev}}}')

    def _once(self, obj: Any, encode: Callable[[Any], Any]) -> str:
        hit = self._memo.get(id(obj))
        if hit is not None and hit[0] is obj:  # the entry keeps `obj` alive: its id is unique
            return hit[1]
        value = encode(obj)
        text = value if isinstance(value, str) else self._dumps(value)
        if len(self._memo) < self._MEMO_MAX:
            self._memo[id(obj)] = (obj, text)
        return text


@dataclass(frozen=True, slots=True)
class VerifyFailure:
    """A certificate file that could not be read."""

    source: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.source, "valid": None, "error": self.reason}


@dataclass(frozen=True, slots=True)
class VerifyReport:
    at: dt.datetime
    revocation: RevocationMode
    verdicts: tuple[CertVerdict, ...]
    failures: tuple[VerifyFailure, ...] = ()
    trust_findings: tuple[Finding, ...] = field(default=())

    @property
    def all_valid(self) -> bool:
        return not self.failures and all(v.valid for v in self.verdicts)


def collect_batch(directory: Path) -> list[Path]:
    """Every regular file under `directory`, recursively, in a stable order (hidden files
    left out), the same order as `os.walk` with sorted names."""
    return [Path(f) for f in batch_files(directory)]


def batch_files(directory: Path | str) -> list[str]:
    """`collect_batch` as str paths."""
    if not os.path.isdir(directory):  # noqa: PTH112 - str or Path alike
        raise InputError("not a directory", source=directory)
    found: list[str] = []
    _walk(os.fspath(directory), found)
    return found


def _walk(top: str, found: list[str]) -> None:
    # os.scandir and str paths: a pathlib join per file costs more than the listing
    files: list[str] = []
    dirs: list[str] = []
    try:
        with os.scandir(top) as it:
            for entry in it:
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if not is_dir:
                    files.append(entry.name)
                elif not entry.is_symlink():  # as os.walk: a linked directory is not walked
                    dirs.append(entry.name)
    except OSError:
        return  # as os.walk: an unreadable directory is skipped
    files.sort()
    found.extend(os.path.join(top, n) for n in files if not n.startswith("."))  # noqa: PTH118
    for d in sorted(dirs):
        _walk(os.path.join(top, d), found)  # noqa: PTH118


def _expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given; a directory stands for every file under it (`collect_batch`)."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        found = collect_batch(path)
        if not found:
            raise InputError("is a directory that holds no file", source=path)
        out += found
    return out


def _certs_from(paths: Iterable[Path], *, passphrase: bytes | None) -> list[LoadedCertificate]:
    out: list[LoadedCertificate] = []
    for path in _expand(paths):
        bundle = load_bundle(read_input(path), source=str(path), passphrase=passphrase)
        if not bundle.certificates:
            raise ParseError("holds no certificate", source=path)
        out.extend(bundle.certificates)
    return out


def _crls_from(paths: Iterable[Path]) -> list[tuple[x509.CertificateRevocationList, bytes]]:
    out: list[tuple[x509.CertificateRevocationList, bytes]] = []
    for path in _expand(paths):
        bundle = load_bundle(read_input(path), source=str(path))
        if not bundle.crls:
            raise ParseError("holds no CRL", source=path)
        out.extend((c.crl, c.der) for c in bundle.crls)
    return out


def _single_pem_der(data: bytes) -> bytes | None:
    """Fast path for the common file: exactly one PEM certificate and nothing else."""
    start = data.find(_PEM_HEAD)
    if start < 0 or data.find(_PEM_HEAD, start + 1) >= 0:
        return None
    end = data.find(_PEM_TAIL, start)
    if end < 0:
        return None
    try:
        return binascii.a2b_base64(data[start + len(_PEM_HEAD) : end])
    except binascii.Error:
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


@dataclass(slots=True)
class _Targets:
    sources: list[str] = field(default_factory=list)
    ders: list[bytes] = field(default_factory=list)
    extra_pool: list[x509.Certificate] = field(default_factory=list)
    refused: list[Finding] = field(default_factory=list)  # impostor CAs of chain files
    failures: list[VerifyFailure] = field(default_factory=list)


def _load_targets(paths: Sequence[Path | str], *, passphrase: bytes | None) -> _Targets:
    targets = _Targets()
    for path in paths:
        source = os.fspath(path)
        try:
            data = read_input(Path(path))
            der = _single_pem_der(data)
            if der is not None:
                targets.sources.append(source)
                targets.ders.append(der)
                continue
            bundle = load_bundle(data, source=source, passphrase=passphrase)
        except InputError as exc:
            targets.failures.append(VerifyFailure(source, str(exc)))
            continue
        if not bundle.certificates:
            targets.failures.append(VerifyFailure(source, f"{source}: holds no certificate"))
            continue
        leaves = [c for c in bundle.certificates if not _is_ca(c.certificate)]
        # A chain file: its leaves are the targets, its CAs help build their paths.
        # A file of CA certificates only: those are the targets.
        chosen = leaves or list(bundle.certificates)
        if leaves:
            helpers, refused = _screen(
                [c for c in bundle.certificates if _is_ca(c.certificate)])
            targets.extra_pool += helpers
            targets.refused += refused
        for item in chosen:
            targets.sources.append(source)
            targets.ders.append(item.der)
    return targets


def _screen(certs: Sequence[LoadedCertificate]) -> tuple[list[x509.Certificate], list[Finding]]:
    """The certificates that may help build paths, and IMPOSTOR_CA for the others."""
    kept: list[x509.Certificate] = []
    refused: list[Finding] = []
    for c in certs:
        if is_impostor(c.certificate, der=c.der):
            refused.append(impostor_finding(certificate_facts(c.certificate, der=c.der)))
        else:
            kept.append(c.certificate)
    return kept, refused


def _impostor_findings(result: ValidationResult, der: bytes,
                       impostors: dict[str, Finding]) -> tuple[Finding, ...]:
    """The trust store's IMPOSTOR_CA refusals that explain why this path found no anchor."""
    if result.valid or not impostors:
        return ()
    try:
        issuer = x509.load_der_x509_certificate(der).issuer.rfc4514_string()
    except ValueError:
        return ()
    names = {issuer, *(e.subject for e in result.path)}
    return tuple(f for subject, f in impostors.items() if subject in names)


def verify_files(request: VerifyRequest, *, at: dt.datetime) -> VerifyReport:
    """Validate every certificate of `request.certificates` at `at`."""
    if not request.trust:
        raise InputError("no trust anchor given: pass --trust FILE (the IGC Santé roots)")
    trust_certs = _certs_from(request.trust, passphrase=request.passphrase)
    store = TrustStore.from_certificates(trust_certs)
    anchors = tuple(e.certificate for e in store.entries if e.facts.self_issued)
    if not anchors:
        raise InputError(
            "no usable trust anchor among the --trust files (a self-signed CA certificate "
            "is needed; impostors and non-CA certificates are refused)"
        )
    pool = [e.certificate for e in store.entries if not e.facts.self_issued]
    # intermediates are not trusted, but one that claims an ANS CA must be one (pinned)
    helpers, refused = _screen(_certs_from(request.untrusted, passphrase=request.passphrase))
    pool += helpers
    trust_findings = [*store.findings, *refused]
    crls = _crls_from(request.crls)
    impostors = {f.subject: f for f in trust_findings
                 if f.code is Code.IMPOSTOR_CA and f.subject is not None}
    mode = request.revocation_mode

    def validator(extra: Sequence[x509.Certificate]) -> Validator:
        return Validator(ValidationContext(
            trust_anchors=anchors,
            at=at,
            untrusted=(*pool, *extra),
            crls=tuple(crls),
            revocation=mode,
            accept_stale_crl=request.accept_stale_crl,
            required_eku=_required_eku(request.profile),
        ))

    verdicts: list[CertVerdict] | None = None
    failures: list[VerifyFailure] = []
    if request.profile is None and not impostors:
        verdicts = _verify_in_workers(request, validator, failures)
    if verdicts is None:  # the parent reads every file, then the workers validate
        targets = _load_targets(request.certificates, passphrase=request.passphrase)
        trust_findings += targets.refused
        impostors |= {f.subject: f for f in targets.refused if f.subject is not None}
        results = validator(targets.extra_pool).validate_many(
            targets.ders, processes=request.processes)
        failures = targets.failures
        verdicts = [
            _verdict(source, der, result, request=request, impostors=impostors)
            for source, der, result in zip(targets.sources, targets.ders, results, strict=True)
        ]
    return VerifyReport(
        at=ensure_utc(at),
        revocation=mode,
        verdicts=tuple(verdicts),
        failures=tuple(failures),
        trust_findings=tuple(trust_findings),
    )


def _pem_file_der(path: Path | str) -> bytes:
    """The DER of a file that holds exactly one PEM certificate; b"" for any other file
    (the parent then reads it the thorough way). Read by `Validator.validate_many`'s forked
    workers, through `LazyDers`, so that they read the files in parallel."""
    data = _read_small(os.fspath(path))
    der = None if data is None else _single_pem_der(data)
    return der or b""


def _read_small(path: str) -> bytes | None:
    """A small regular file's bytes, or None for anything else (`read_input` then decides
    and names the problem). Raw descriptors: a buffered file object per file costs more than
    the read itself over a batch."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not 0 < info.st_size <= _SMALL_FILE:
            return None
        data = os.read(fd, info.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if 0 < len(data) <= info.st_size else None  # None: it changed meanwhile


def _verify_in_workers(request: VerifyRequest, validator: Callable[[Sequence[x509.Certificate]],
                       Validator], failures: list[VerifyFailure]) -> list[CertVerdict] | None:
    """The batch fast path: the workers read the single-PEM files themselves; the other
    files (bundles, DER, unreadable) are then read and validated here as `_load_targets`
    would. None when one of them brings CA certificates for the pool (or impostors): every
    file must then be validated with them, the thorough way."""
    paths = request.certificates
    shared = validator(())
    results = shared.validate_many(LazyDers(paths, _pem_file_der), processes=request.processes)
    redo = {i: _load_targets([paths[i]], passphrase=request.passphrase)
            for i, r in enumerate(results) if not r.path}
    if any(t.extra_pool or t.refused for t in redo.values()):
        return None
    ders = [der for t in redo.values() for der in t.ders]
    again = iter(shared.validate_many(ders, processes=request.processes))
    verdicts: list[CertVerdict] = []
    for i, (path, result) in enumerate(zip(paths, results, strict=True)):
        t = redo.get(i)
        if t is None:
            verdicts.append(_verdict(os.fspath(path), b"", result, request=request,
                                     impostors={}))
            continue
        verdicts.extend(_verdict(source, der, next(again), request=request, impostors={})
                        for source, der in zip(t.sources, t.ders, strict=True))
        failures.extend(t.failures)
    return verdicts


def _required_eku(profile: str | None) -> str | None:
    """The EKU the path must allow for `profile` (none without a profile: path only)."""
    if profile is None:
        return None
    ekus = sorted(get_profile(profile).eku_required)
    return ekus[0] if len(ekus) == 1 else None


def _verdict(source: str, der: bytes, result: ValidationResult, *, request: VerifyRequest,
             impostors: dict[str, Finding]) -> CertVerdict:
    findings = list(result.findings)
    findings += _impostor_findings(result, der, impostors)
    valid = result.valid
    if result.path:
        leaf = result.path[0]
        fingerprint, subject = leaf.fingerprint_sha256, leaf.subject
    else:
        fingerprint, subject = "", ""
    if request.profile is not None:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            cert = None
        if cert is not None:
            facts = certificate_facts(cert, der=der)
            fingerprint, subject = facts.fingerprint_sha256, facts.subject
            profile_findings = check_profile(facts, profile=request.profile)
            findings += profile_findings
            valid = valid and not any(f.severity is Severity.ERROR for f in profile_findings)
    if not fingerprint:
        fingerprint = _sha256(der)
    return CertVerdict(source, fingerprint, subject, valid, result.path, tuple(findings),
                       result.revocation)


def _sha256(der: bytes) -> str:
    import hashlib  # noqa: PLC0415 - only for unreadable certificates, rare

    return hashlib.sha256(der).hexdigest()
