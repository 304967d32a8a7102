"""Prometheus metrics, read from the store at scrape time (a custom collector).

Everything comes from the database, so every `serve` process (leader or not) exposes
the same values, and a restart loses no counter. Endpoint probes: the latest stored
probe of each active mailbox gives `certmgr_probe_success` (1 ok, 0 failing),
`certmgr_probe_tls_version` (1.3, 1.2, 1.1... as a number; absent when no TLS session
was established), `certmgr_probe_server_cert_days_left` (whole days from the scrape, by
the clock given to the collector) and
`certmgr_probe_server_cert_not_after_timestamp_seconds`, labelled `mailbox` and
`endpoint` (`host:port`). Own `CollectorRegistry`: nothing of
the process default registry leaks in. When the store cannot be read, only
`certmgr_store_up 0` is exposed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlmodel import col

from certmgr.clock import Clock, SystemClock
from certmgr.services.alert_log import sent_counts
from certmgr.services.status import SCAN_TRIGGER
from certmgr.store.enums import BindingRole, MailboxStatus
from certmgr.store.models import Binding, Certificate, Crl, Mailbox, Structure, ValidationRun
from certmgr.store.models_alerts import JobRun
from certmgr.store.models_probes import ProbeResult

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from certmgr.store.session import Store

__all__ = ["StoreCollector", "make_registry"]

_TLS_NUMBERS = {"SSLv3": 0.3, "TLSv1": 1.0, "TLSv1.1": 1.1, "TLSv1.2": 1.2, "TLSv1.3": 1.3}


class StoreCollector(Collector):
    """Yields the certmgr metrics from `store` on each scrape."""

    def __init__(self, store: Store, *, clock: Clock | None = None) -> None:
        self._store = store
        self._clock = clock or SystemClock()

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("certmgr_store_up", "1 when the inventory could be read.")
        try:
            metrics = list(self._read())
        except Exception:  # a scrape must answer: report the store as down
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _read(self) -> Iterator[Metric]:
        with self._store.sessions() as session:
            not_after = GaugeMetricFamily(
                "certmgr_certificate_not_after_timestamp_seconds",
                "notAfter of each mailbox's current certificate.",
                labels=["mailbox", "structure", "serial"])
            rows = session.execute(
                select(col(Mailbox.address), col(Structure.name), col(Certificate.serial_hex),
                       col(Certificate.not_after))
                .join(Binding, col(Binding.mailbox_id) == col(Mailbox.id))
                .join(Certificate, col(Certificate.id) == col(Binding.certificate_id))
                .join(Structure, col(Structure.id) == col(Mailbox.structure_id))
                .where(col(Binding.role) == BindingRole.CURRENT,
                       col(Mailbox.archived).is_(False))).all()
            for address, structure, serial, when in rows:
                not_after.add_metric([address, structure, serial], when.timestamp())
            yield not_after

            mailboxes = GaugeMetricFamily("certmgr_mailboxes", "Active mailboxes per status.",
                                          labels=["status"])
            counts = dict(session.execute(
                select(col(Mailbox.status), func.count()).where(
                    col(Mailbox.archived).is_(False)).group_by(col(Mailbox.status))).all())
            for status in MailboxStatus:
                mailboxes.add_metric([status.value], counts.get(status, 0))
            yield mailboxes

            next_update = GaugeMetricFamily(
                "certmgr_crl_next_update_timestamp_seconds",
                "nextUpdate of the current CRL per issuer.", labels=["issuer"])
            for issuer, when in session.execute(select(col(Crl.issuer), col(Crl.next_update))
                                                .where(col(Crl.is_current).is_(True),
                                                       col(Crl.is_delta).is_(False))).all():
                if when is not None:
                    next_update.add_metric([issuer], when.timestamp())
            yield next_update

            fetched = GaugeMetricFamily(
                "certmgr_crl_last_fetch_success_timestamp_seconds",
                "Last time a valid CRL of the issuer was fetched or imported.",
                labels=["issuer"])
            for issuer, when in session.execute(
                    select(col(Crl.issuer), func.max(col(Crl.fetched_at))).where(
                        col(Crl.verified).is_(True)).group_by(col(Crl.issuer))).all():
                fetched.add_metric([issuer], when.timestamp())
            yield fetched

            run = session.scalars(select(ValidationRun).where(
                col(ValidationRun.trigger) == SCAN_TRIGGER,
                col(ValidationRun.finished_at).is_not(None)).order_by(
                col(ValidationRun.finished_at).desc()).limit(1)).first()
            last = GaugeMetricFamily("certmgr_last_scan_timestamp_seconds",
                                     "When the last scan finished.")
            duration = GaugeMetricFamily("certmgr_last_scan_duration_seconds",
                                         "How long the last scan took.")
            if run is not None and run.finished_at is not None:
                last.add_metric([], run.finished_at.timestamp())
                duration.add_metric([], (run.finished_at - run.started_at).total_seconds())
            yield last
            yield duration

            failures = CounterMetricFamily("certmgr_job_failures", "Failed job runs.",
                                           labels=["job"])
            for job, count in session.execute(select(col(JobRun.job), func.count()).where(
                    col(JobRun.ok).is_(False)).group_by(col(JobRun.job))).all():
                failures.add_metric([job], count)
            yield failures
            yield from self._probes(session)

        sent = CounterMetricFamily("certmgr_alerts_sent", "Alerts sent per channel.",
                                   labels=["channel"])
        for channel, count in sorted(sent_counts(store=self._store).items()):
            sent.add_metric([channel], count)
        yield sent


    def _probes(self, session: Session) -> Iterator[Metric]:
        labels = ["mailbox", "endpoint"]
        success = GaugeMetricFamily("certmgr_probe_success",
                                    "1 when the latest endpoint probe was OK or WARNING.",
                                    labels=labels)
        version = GaugeMetricFamily("certmgr_probe_tls_version",
                                    "TLS version of the latest probe (1.2, 1.3...).",
                                    labels=labels)
        days = GaugeMetricFamily("certmgr_probe_server_cert_days_left",
                                 "Whole days left on the server certificate seen by the "
                                 "latest probe.", labels=labels)
        not_after = GaugeMetricFamily("certmgr_probe_server_cert_not_after_timestamp_seconds",
                                      "notAfter of the server certificate seen by the latest "
                                      "probe.", labels=labels)
        latest = (select(col(ProbeResult.mailbox_id), func.max(col(ProbeResult.id)).label("id"))
                  .group_by(col(ProbeResult.mailbox_id)).subquery())
        rows = session.execute(
            select(col(Mailbox.address), ProbeResult)
            .join(latest, latest.c.id == col(ProbeResult.id))
            .join(Mailbox, col(Mailbox.id) == col(ProbeResult.mailbox_id))
            .where(col(Mailbox.archived).is_(False)).order_by(col(Mailbox.address))).all()
        now = self._clock.now()
        for address, probe in rows:
            host = f"[{probe.host}]" if ":" in probe.host else probe.host
            values = [address, f"{host}:{probe.port}"]
            success.add_metric(values, 1 if probe.ok else 0)
            number = _tls_number(probe.tls_version)
            if number is not None:
                version.add_metric(values, number)
            if probe.server_not_after is not None:
                days.add_metric(values, (probe.server_not_after - now).days)
                not_after.add_metric(values, probe.server_not_after.timestamp())
        yield from (success, version, days, not_after)


def _tls_number(name: str | None) -> float | None:
    """"TLSv1.3" -> 1.3; SSLv3 -> 0.3 (below every TLS version); None when unknown."""
    return _TLS_NUMBERS.get(name or "")


def make_registry(store: Store, *, clock: Clock | None = None) -> CollectorRegistry:
    """A registry holding only the certmgr collector (`clock`: for the days-left gauge)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, clock=clock))
    return registry
