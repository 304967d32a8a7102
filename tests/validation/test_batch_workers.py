"""`validate_many` when its forked workers die or fail: the results stay complete and right.

Workers are real forked processes, killed for real (SIGKILL, from inside: the sequence of
certificates they index kills the process that reads a chosen index). The parent waits on a
pipe until the deaths have happened before it takes any span itself, so the workers reach
their fatal index whatever the machine's load; the pipe's bytes also prove that they died.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certmgr.pki.findings import Code
from certmgr.pki.validate import (
    LazyDers,
    RevocationMode,
    ValidationContext,
    ValidationResult,
    Validator,
)

from .ecpki import AT, cert, crl, entry

_LEAVES = 400  # above the batch engine's fork threshold
_WAIT_S = 120.0  # how long the parent waits for the deaths before going on (then fails)


class _Deadly:
    """Item i of a batch's DERs (`item`, through `LazyDers`). In a forked worker, reading
    index `fatal` or beyond first tells the parent (a byte down a pipe), then kills the
    worker (`die`) or raises OSError (`raise`). In the parent, the first read after index 0
    waits for `deaths` such bytes. `everywhere`: the parent raises too (a persistent
    failure, e.g. an unreadable file)."""

    def __init__(self, ders: list[bytes], *, fatal: int, deaths: int, how: str = "die",
                 everywhere: bool = False) -> None:
        self._ders = ders
        self._fatal, self._deaths, self._how, self._everywhere = fatal, deaths, how, everywhere
        self._parent = os.getpid()
        self._signal_r, self._signal_w = os.pipe()
        self.reported = 0  # the deaths (or failures) the parent heard of

    def sequence(self) -> LazyDers[int]:
        return LazyDers(range(len(self._ders)), self.item)

    def item(self, index: int) -> bytes:
        if os.getpid() != self._parent:
            if index >= self._fatal:
                os.write(self._signal_w, b"x")
                if self._how == "die":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise OSError(f"worker cannot read item {index}")
        elif index > 0:
            self._wait_for_workers()
            if self._everywhere and index >= self._fatal:
                raise OSError(f"cannot read item {index}")
        return self._ders[index]

    def _wait_for_workers(self) -> None:
        while self.reported < self._deaths:
            ready, _, _ = select.select([self._signal_r], [], [], _WAIT_S)
            if not ready:
                return  # they never came: the assertions on `reported` say so
            self.reported += len(os.read(self._signal_r, 64))

    def close(self) -> None:
        os.close(self._signal_r)
        os.close(self._signal_w)


@pytest.fixture(scope="module")
def batch() -> tuple[ValidationContext, list[bytes]]:
    """A CA, 400 leaves (every 7th revoked, every 11th unreadable), its CRLs."""
    root = cert("Root", "Root", 1, 1, ca=True, serial=1)
    inter = cert("Inter", "Root", 2, 1, ca=True, serial=2)
    ders = [b"not a certificate" if i % 11 == 5 else
            cert(f"Leaf {i}", "Inter", 10 + i % 3, 2, ca=False, serial=1000 + i)
            .public_bytes(Encoding.DER) for i in range(_LEAVES)]
    revoked = [entry(1000 + i) for i in range(0, _LEAVES, 7)]
    ctx = ValidationContext(trust_anchors=(root,), untrusted=(inter,), at=AT,
                            crls=(crl("Root", 1, []), crl("Inter", 2, revoked)),
                            revocation=RevocationMode.HARD_FAIL, required_eku="clientAuth")
    return ctx, ders


def _serial(ctx: ValidationContext, ders: list[bytes]) -> list[ValidationResult]:
    validator = Validator(ctx)
    return [validator.validate_der(d) for d in ders]


@pytest.mark.parametrize(
    ("processes", "fatal", "how"),
    [
        (2, 150, "die"),    # the worker sends its first spans, then dies in a later one
        (3, 1, "die"),      # both workers die on their first span: the parent does it all
        (2, 150, "raise"),  # the worker raises instead (its traceback goes to stderr)
    ],
)
def test_results_complete_and_right_when_workers_fail(
    batch: tuple[ValidationContext, list[bytes]], processes: int, fatal: int, how: str
) -> None:
    ctx, ders = batch
    want = _serial(ctx, ders)
    deadly = _Deadly(ders, fatal=fatal, deaths=processes - 1, how=how)
    try:
        got = Validator(ctx).validate_many(deadly.sequence(), processes=processes)
    finally:
        deadly.close()
    assert deadly.reported == processes - 1  # every worker did reach its fatal index
    assert got == want
    codes = [r.codes() for r in got]
    assert codes.count({Code.REVOKED}) == len(range(0, _LEAVES, 7)) - len(
        [i for i in range(0, _LEAVES, 7) if i % 11 == 5])
    assert codes.count({Code.MALFORMED}) == len(range(5, _LEAVES, 11))
    assert not multiprocessing.active_children()


def test_a_failure_the_parent_meets_too_reaches_the_caller_and_no_worker_survives(
    batch: tuple[ValidationContext, list[bytes]],
) -> None:
    ctx, ders = batch
    deadly = _Deadly(ders, fatal=150, deaths=1, how="raise", everywhere=True)
    try:
        with pytest.raises(OSError, match="cannot read item"):
            Validator(ctx).validate_many(deadly.sequence(), processes=2)
    finally:
        deadly.close()
    assert deadly.reported == 1
    assert not multiprocessing.active_children()
