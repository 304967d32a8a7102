"""Many certificates on all cores: `validate_many(validator, ders)`.

The parent validates the first certificate (so the CRLs are parsed and indexed and the CA
chain is checked before the fork: the workers inherit those caches), then forks one worker
per core but one and works as the last one itself, so no third process competes for the
cores and its own results cross no pipe.

Spans of certificates are handed out through a pipe filled before the fork, one 4-byte span
number per span: whoever is free reads the next one. A read of a pipe is atomic, so no lock
exists that a dying worker could leave taken. A worker sends each span's results back as
compact tuples through its own pipe; when a worker dies, the spans it took and never sent
are validated by the parent at the end: the results are always complete, in order, and the
same as `[validator.validate_der(d) for d in ders]`.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import multiprocessing
import os
import struct
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, TypeAlias

from certmgr.pki.findings import Code, Finding, Severity
from certmgr.pki.validate import PathElement, RevocationInfo, RevocationStatus, ValidationResult

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence
    from multiprocessing.process import BaseProcess

    from certmgr.pki.validate import Validator

__all__ = ["validate_many"]

_CHUNK_MAX = 256
_CHUNK_MIN = 16
_PACK_MEMO_MAX = 1024
_PIPE_SIZE = 1 << 20
_SPAN = struct.Struct("<I")
_SPAN_PIPE_MIN = 4096  # what any pipe holds (POSIX: at least PIPE_BUF, 512; Linux 64 KiB)

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


def validate_many(validator: Validator, ders: Sequence[bytes], *,
                  processes: int | None = None) -> list[ValidationResult]:
    """`[validator.validate_der(d) for d in ders]`, on `processes` cores (default: all).

    The workers index `ders` themselves (inherited through fork, never pickled): a sequence
    that reads and decodes a file when indexed spreads that work over the workers too. An
    exception raised by `ders` or the validator in a worker ends that worker only (its spans
    are done here, where the same exception then reaches the caller).
    """
    n = processes or os.cpu_count() or 1
    if n <= 1 or len(ders) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [validator.validate_der(d) for d in ders]
    out: list[ValidationResult | None] = [None] * len(ders)
    out[0] = validator.validate_der(ders[0])
    mp = multiprocessing.get_context("fork")
    workers: list[BaseProcess] = []
    readers: list[Connection] = []
    queue = _SpanQueue()
    # move the caches out of the collector's reach so that the children's collections do
    # not touch (and so copy) every inherited page
    gc.freeze()
    try:
        spans = _spans(1, len(ders), n, limit=queue.capacity // _SPAN.size)
        batch = _Batch(validator, ders, spans, queue)
        queue.fill(len(spans))
        for _ in range(n - 1):  # the parent is the n-th worker
            reader, writer = mp.Pipe(duplex=False)
            _widen(writer.fileno())
            worker = mp.Process(target=_worker, args=(batch, writer), daemon=True)
            worker.start()
            writer.close()
            readers.append(reader)
            workers.append(worker)
        done = _run(batch, out, readers)
        for child in workers:
            child.join()
        for k in sorted(set(range(len(spans))) - done):  # a worker died: its share, here
            start, stop = spans[k]
            out[start:stop] = [validator.validate_der(ders[i]) for i in range(start, stop)]
    finally:
        for child in workers:  # only after an exception here: no worker outlives the call
            if child.is_alive():
                child.kill()
                child.join()
        for reader in readers:
            reader.close()
        queue.close()
        gc.unfreeze()
    results = [r for r in out if r is not None]
    assert len(results) == len(ders), "every span is validated once"
    return results


class _SpanQueue:
    """Span numbers in a pipe. Every process reads 4 bytes at a time from the one read end,
    and reads of a pipe are atomic: each number goes to exactly one reader, no lock held."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self.capacity = _widen(self._write)

    def fill(self, count: int) -> None:
        """Write `count` span numbers, then close the write end (readers then see the end)."""
        try:
            os.set_blocking(self._write, False)  # never wait on a full pipe: fail instead
            data = memoryview(b"".join(_SPAN.pack(k) for k in range(count)))
            while data:
                data = data[os.write(self._write, data):]
        finally:
            os.close(self._write)
            self._write = -1

    def take(self) -> int | None:
        """The next span number, or None when all are taken."""
        data = os.read(self._read, _SPAN.size)
        return _SPAN.unpack(data)[0] if len(data) == _SPAN.size else None

    def close(self) -> None:
        for fd in (self._read, self._write):
            if fd >= 0:
                os.close(fd)
        self._read = self._write = -1


@dataclass(slots=True)
class _Batch:
    """One `validate_many` run, shared with the forked workers."""

    validator: Validator
    ders: Sequence[bytes]
    spans: list[tuple[int, int]]
    queue: _SpanQueue


def _worker(batch: _Batch, conn: Connection) -> None:
    """A forked worker: validate spans until none is left, sending `(span, packed results)`."""
    pack = _Packer()
    try:
        while (k := batch.queue.take()) is not None:
            start, stop = batch.spans[k]
            conn.send((k, [pack(batch.validator.validate_der(batch.ders[i]))
                           for i in range(start, stop)]))
    finally:
        conn.close()


def _run(batch: _Batch, out: list[ValidationResult | None],
         readers: list[Connection]) -> set[int]:
    """Validate spans here while the workers do, then collect theirs; the spans done."""
    unpack = _Unpacker()
    done: set[int] = set()
    open_readers = list(readers)

    def collect(timeout: float | None) -> None:
        for reader in wait(open_readers, timeout):
            assert isinstance(reader, Connection)
            try:
                k, packed = reader.recv()
            except (EOFError, OSError):  # that worker is finished, or died (mid-message)
                open_readers.remove(reader)
                continue
            start, stop = batch.spans[k]
            out[start:stop] = [unpack(r) for r in packed]
            done.add(k)

    # the parent's own results need no packing; it takes in the workers' results between
    # its spans, so that their pipes never stay full
    while (k := batch.queue.take()) is not None:
        start, stop = batch.spans[k]
        out[start:stop] = [batch.validator.validate_der(batch.ders[i])
                           for i in range(start, stop)]
        done.add(k)
        collect(0)
    while open_readers:
        collect(None)
    return done


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


def _widen(fd: int) -> int:
    """Give a pipe room for several spans of results (Linux; best effort), so that a worker
    does not wait while the parent validates a span of its own; the pipe's capacity."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    get_size = getattr(fcntl, "F_GETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, set_size, _PIPE_SIZE)
    if get_size is not None:
        with contextlib.suppress(OSError):
            return int(fcntl.fcntl(fd, get_size))
    return _SPAN_PIPE_MIN


def _spans(start: int, stop: int, workers: int, *, limit: int) -> list[tuple[int, int]]:
    """Spans of shrinking size (guided scheduling): large ones first amortise the IPC, small
    ones last leave no worker long alone at the end. At most `limit` spans (larger ones for
    a batch too large for the span queue)."""
    low, high = _CHUNK_MIN, _CHUNK_MAX
    while True:
        out: list[tuple[int, int]] = []
        i = start
        while i < stop:
            size = min(high, max(low, (stop - i) // (workers * 4)))
            out.append((i, min(i + size, stop)))
            i += size
        if len(out) <= limit:
            return out
        low, high = low * 2, high * 2
