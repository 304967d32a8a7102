"""Two processes writing to one database at once: no lock errors, no duplicates, one chain."""

from __future__ import annotations

import multiprocessing
from itertools import pairwise

import pytest
from sqlalchemy import Engine, func
from sqlmodel import col, select

from certmgr.store.audit import verify_chain
from certmgr.store.engine import SessionFactory
from certmgr.store.models import AuditEvent, Structure
from certmgr.store.testing import T0, concurrent_writer

SECONDS = 2.5


@pytest.mark.slow
def test_two_processes_write_without_errors(engine: Engine, db_url: str,
                                            sessions: SessionFactory) -> None:
    context = multiprocessing.get_context("spawn")  # no forked engine state
    with context.Pool(2) as pool:
        reports = pool.starmap(concurrent_writer,
                               [(db_url, worker, SECONDS, T0.isoformat()) for worker in (1, 2)])
    assert [r.errors for r in reports] == [(), ()]
    assert all(r.written > 5 for r in reports), reports
    written = sum(r.written for r in reports)
    with sessions() as session:
        structures = session.scalar(select(func.count()).select_from(Structure))
        distinct = session.scalar(select(func.count(func.distinct(Structure.idnat))))
        events = session.scalar(select(func.count()).select_from(AuditEvent))
        actors = session.scalars(select(AuditEvent.actor).order_by(col(AuditEvent.id))).all()
        report = verify_chain(session)
    assert structures == distinct == events == written
    assert set(actors) == {"worker-1", "worker-2"}
    switches = sum(a != b for a, b in pairwise(actors))
    assert switches >= 1, "the two writers never overlapped"
    assert report.ok, report.reason
