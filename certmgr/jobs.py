"""The scheduled jobs, as plain functions: `job(settings, *, now) -> details`.

Each job opens the store, does one use case, and records a `JobRun` (started at
`now`, finished `now` plus the time it took; `ok`, the error, JSON details). A
failure is recorded and re-raised as `JobError` with one line naming the job. The
scheduler, `certmgr jobs run NAME` and the tests call the same functions; only
the scheduler reads the clock. `channels` / `fetcher` may be injected (tests); by
default they are built from the settings.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func

from certmgr.errors import CertmgrError, JobError
from certmgr.services.alert_channels import alert_lang, build_channels
from certmgr.services.alerts import (
    AlertPolicy,
    DispatchReport,
    dispatch,
    evaluate_alerts,
    send_digest,
)
from certmgr.store.models_alerts import JobRun
from certmgr.store.session import open_store

if TYPE_CHECKING:
    from certmgr.channels.base import Channel
    from certmgr.config import Settings
    from certmgr.fetch.http import Fetcher
    from certmgr.secrets import Secret
    from certmgr.services.alert_events import AlertEvent
    from certmgr.store.session import Store

__all__ = ["ACTOR", "JOBS", "KEY_JOBS", "alerts", "crl_refresh", "digest", "heartbeat",
           "probe_endpoints", "run_job", "scan"]

ACTOR = "certmgr-serve"
KEY_JOBS = frozenset({"probe_endpoints"})  # the jobs that open the keys held here
Job = Callable[..., dict[str, Any]]


def _recorded(name: str, settings: Settings, now: dt.datetime,
              work: Callable[[Store], dict[str, Any]]) -> dict[str, Any]:
    try:
        store = open_store(settings)
    except CertmgrError as exc:
        raise JobError(f"job {name}: cannot open the store: {exc}") from exc
    with store:
        with store.transaction() as session:
            run = JobRun(job=name, started_at=now)
            session.add(run)
        start = time.perf_counter()
        try:
            details = work(store)
        except Exception as exc:
            _finish(store, run, now + dt.timedelta(seconds=time.perf_counter() - start),
                    ok=False, error=f"{type(exc).__name__}: {exc}", details={})
            raise JobError(f"job {name} failed: {exc}") from exc
        details["duration_seconds"] = round(time.perf_counter() - start, 3)
        _finish(store, run, now + dt.timedelta(seconds=details["duration_seconds"]), ok=True,
                error=None, details=details)
    return details


def _finish(store: Store, run: JobRun, finished: dt.datetime, *, ok: bool, error: str | None,
            details: dict[str, Any]) -> None:
    with store.transaction() as session:
        row = session.get(JobRun, run.id)
        if row is None:  # pragma: no cover - the row was committed above
            return
        row.finished_at, row.ok, row.error = finished, ok, error
        row.details = details
        session.add(row)


def crl_refresh(settings: Settings, *, now: dt.datetime, fetcher: Fetcher | None = None,
                ) -> dict[str, Any]:
    """Download the CRLs (`certmgr.services.crl_refresh`); fails when any URL failed."""
    from certmgr.fetch.http import HttpFetcher  # noqa: PLC0415 - httpx only when used
    from certmgr.fetch.policy import UrlPolicy  # noqa: PLC0415
    from certmgr.services.crl_refresh import refresh_crls  # noqa: PLC0415

    def work(store: Store) -> dict[str, Any]:
        owned = fetcher is None
        active = fetcher or HttpFetcher(now=lambda: now)
        try:
            report = refresh_crls(store=store, fetcher=active,
                                  policy=UrlPolicy.for_crls(settings.crl_hosts), at=now,
                                  actor=ACTOR, extra_urls=settings.extra.get("crl_urls", ()))
        finally:
            if owned and isinstance(active, HttpFetcher):
                active.close()
        failed = [o for o in report.outcomes if not o.ok]
        if failed:
            raise JobError("; ".join(f"{o.url}: {o.status} ({o.detail})" for o in failed))
        return {"urls": len(report.outcomes)}

    return _recorded("crl_refresh", settings, now, work)


def scan(settings: Settings, *, now: dt.datetime) -> dict[str, Any]:
    """Activate the ISSUED renewals whose certificate has started
    (`certmgr.services.renewal.activate_due`), then re-validate every mailbox
    (`certmgr.services.scan.scan`)."""
    from certmgr.services.renewal import activate_due  # noqa: PLC0415
    from certmgr.services.scan import scan as run_scan  # noqa: PLC0415
    from certmgr.services.status import Thresholds  # noqa: PLC0415

    def work(store: Store) -> dict[str, Any]:
        thresholds = Thresholds.from_settings(settings)
        tried = activate_due(store=store, at=now, actor=ACTOR, thresholds=thresholds)
        report = run_scan(store=store, at=now, actor=ACTOR, thresholds=thresholds)
        return {"activated": [o.address for o in tried if o.status == "active"],
                "scanned": report.scanned,
                "counts": {str(k): v for k, v in report.counts.items()}}

    return _recorded("scan", settings, now, work)


def _tell(send: Callable[..., DispatchReport], store: Store, settings: Settings,
          events: Sequence[AlertEvent], *, now: dt.datetime,
          channels: Sequence[Channel] | None, **options: Any) -> DispatchReport:
    """`send` (dispatch or send_digest) `events` through `channels` (default: the
    settings' channels), in the settings' language, to the settings' recipients."""
    return send(store=store, channels=channels if channels is not None else build_channels(
        settings, now=lambda: now), events=events, at=now, lang=alert_lang(settings),
        policy=AlertPolicy.from_settings(settings), actor=ACTOR, **options)


def _evaluate_and_tell(send: Callable[..., DispatchReport], settings: Settings, *,
                       now: dt.datetime, channels: Sequence[Channel] | None,
                       **options: Any) -> Callable[[Store], dict[str, Any]]:
    def work(store: Store) -> dict[str, Any]:
        events = evaluate_alerts(
            store=store, at=now, thresholds=settings.alert_thresholds,
            order_pending_days=int(settings.extra.get("order_pending_days", 14)))
        report = _tell(send, store, settings, events, now=now, channels=channels, **options)
        return {"events": len(events), **report.to_json()}

    return work


def alerts(settings: Settings, *, now: dt.datetime,
           channels: Sequence[Channel] | None = None) -> dict[str, Any]:
    """Evaluate the alerts and tell each once (`certmgr.services.alerts`)."""
    return _recorded("alerts", settings, now,
                     _evaluate_and_tell(dispatch, settings, now=now, channels=channels))


def digest(settings: Settings, *, now: dt.datetime,
           channels: Sequence[Channel] | None = None) -> dict[str, Any]:
    """Send the daily digest of everything that holds now, per recipient."""
    return _recorded("digest", settings, now,
                     _evaluate_and_tell(send_digest, settings, now=now, channels=channels,
                                        tz=settings.timezone))


def probe_endpoints(settings: Settings, *, now: dt.datetime, passphrase: Secret | None = None,
                    channels: Sequence[Channel] | None = None, timeout: float = 10.0,
                    every: bool = False) -> dict[str, Any]:
    """Probe the endpoints due in the hour starting at `now` (`every`: all of them).

    Each active mailbox with an endpoint is probed once a day at its own slot
    (`certmgr.services.probe_history.is_due`), presenting its certificate and key when the
    key is held here and `passphrase` opens it (else without a client certificate). The
    results are stored, and a mailbox whose probes went from ok to failing is alerted once
    (PROBE_FAILED, `certmgr.services.alerts.probe_alert_events`). A mailbox that cannot be
    probed (its key does not open with `passphrase`, say) does not stop the others: the run
    fails afterwards, naming it."""
    from sqlmodel import col, select  # noqa: PLC0415 - only this job needs them

    from certmgr.services import probe_history as ph  # noqa: PLC0415
    from certmgr.services.alerts import probe_alert_events  # noqa: PLC0415
    from certmgr.store.models import Mailbox  # noqa: PLC0415
    from certmgr.store.models_probes import ProbeResult  # noqa: PLC0415

    def work(store: Store) -> dict[str, Any]:
        with store.sessions() as session:
            rows = session.execute(select(col(Mailbox.address), col(Mailbox.id)).where(
                col(Mailbox.archived).is_(False), col(Mailbox.endpoint_host).is_not(None),
                col(Mailbox.endpoint_host) != "").order_by(col(Mailbox.address))).all()
            last = dict(session.execute(select(col(ProbeResult.mailbox_id),
                                               func.max(col(ProbeResult.at))).group_by(
                col(ProbeResult.mailbox_id))).all())
        # slots are due by the hour the run belongs to, so hourly runs tile the day
        hour = now.replace(minute=0, second=0, microsecond=0)
        due = [a for a, mailbox_id in rows
               if every or ph.is_due(a, now=hour, last_at=last.get(mailbox_id))]
        statuses: dict[str, str] = {}
        errors: list[str] = []
        trust = ph.store_trust(store) if due else None
        for address in due:
            try:
                probe = ph.probe_mailbox(
                    store=store, settings=settings, address=address, at=now, timeout=timeout,
                    passphrase=None if passphrase is None else lambda: passphrase,
                    trust=trust, client="optional")
            except CertmgrError as exc:
                errors.append(f"{address}: {exc}")
                continue
            statuses[address] = ph.record_probe(store=store, address=address,
                                                report=probe).status
        events = probe_alert_events(store=store, at=now)
        told = _tell(dispatch, store, settings, events, now=now,
                     channels=channels) if events else None
        if errors:
            raise JobError(f"{len(errors)} of {len(due)} endpoints not probed: "
                           + "; ".join(errors))
        return {"endpoints": len(rows), "probed": statuses, "failing": len(events),
                "alerts": None if told is None else told.to_json()}

    return _recorded("probe_endpoints", settings, now, work)


def heartbeat(settings: Settings, *, now: dt.datetime) -> dict[str, Any]:
    """Record that the service is alive (a JobRun with the host and pid)."""
    return _recorded("heartbeat", settings, now,
                     lambda _store: {"host": socket.gethostname(), "pid": os.getpid()})


JOBS: dict[str, Job] = {"crl_refresh": crl_refresh, "scan": scan, "alerts": alerts,
                        "digest": digest, "heartbeat": heartbeat,
                        "probe_endpoints": probe_endpoints}


def run_job(name: str, settings: Settings, *, now: dt.datetime,
            passphrase: Secret | None = None, every: bool = False) -> dict[str, Any]:
    """Run job `name` now; JobError for an unknown name or a failure. `passphrase` (the
    key passphrase) and `every` (probe every endpoint, not only those due this hour) go to
    the jobs that use keys (`probe_endpoints`) only."""
    job = JOBS.get(name)
    if job is None:
        raise JobError(f"unknown job {name!r} (one of {', '.join(JOBS)})")
    if name in KEY_JOBS:
        return job(settings, now=now, passphrase=passphrase, every=every)
    return job(settings, now=now)
