"""Probes in the inventory: `--mailbox` mutual TLS from the store, recording, the daily
spread, the probe job with its alert on the ok -> failing transition, and the metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from certmgr import jobs
from certmgr.clock import FixedClock
from certmgr.errors import InputError, NotFoundError, PassphraseError
from certmgr.fetch.probe import ProbeTarget, StartTls
from certmgr.metrics import make_registry
from certmgr.secrets import Secret
from certmgr.services import probe_history as ph
from certmgr.store.models_probes import ProbeResult

from .conftest import ImapServer, Invoke, Pki, RecordingChannel, server_context
from .inventory import ADDRESS, CONTACT, OTHER, PASSPHRASE, Inventory, build_inventory

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def inv(tmp_path: Path, pki: Pki) -> Iterator[Inventory]:
    # the same home as the `cli` fixture's
    yield from build_inventory(tmp_path / "home", pki)


@pytest.fixture
def mtls(pki: Pki, tmp_path: Path) -> Iterator[ImapServer]:
    """An IMAP server that requires a client certificate of the fixture IGC Santé CAs."""
    with ImapServer(server_context(pki, tmp_path, verify_clients=True)) as server:
        yield server


def _secret() -> Secret:
    return Secret(PASSPHRASE.encode())


class TestSpread:
    """The daily slot of a mailbox: stable, spread over 24 h, due in exactly one hour."""

    def test_slot_is_stable_and_within_the_day(self) -> None:
        slot = ph.probe_slot(ADDRESS)
        assert slot == ph.probe_slot(ADDRESS.upper())
        assert dt.timedelta(0) <= slot < dt.timedelta(days=1)
        assert slot != ph.probe_slot(OTHER)

    def test_slots_spread_over_every_hour(self) -> None:
        hours = [0] * 24
        for i in range(2400):
            hours[int(ph.probe_slot(f"bal{i}@x.mssante.fr").total_seconds()) // 3600] += 1
        assert min(hours) >= 60, hours  # 100 expected per hour
        assert max(hours) <= 140, hours

    @pytest.mark.parametrize("address", [ADDRESS, OTHER, "a@b.mssante.fr"])
    def test_due_in_exactly_one_hour_of_the_day(self, address: str) -> None:
        midnight = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        due = [h for h in range(24)
               if ph.is_due(address, now=midnight + h * HOUR, last_at=midnight)]
        assert due == [int(ph.probe_slot(address).total_seconds()) // 3600]

    def test_window_across_midnight(self) -> None:
        slot = ph.probe_slot(ADDRESS)
        day = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        before = day + slot - dt.timedelta(minutes=30) + dt.timedelta(days=1)
        assert ph.is_due(ADDRESS, now=before, last_at=before)
        assert not ph.is_due(ADDRESS, now=before + HOUR, last_at=before)

    def test_a_missed_slot_is_caught_up_after_25_hours(self) -> None:
        now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + ph.probe_slot(ADDRESS) + 3 * HOUR
        assert not ph.is_due(ADDRESS, now=now, last_at=now - 25 * HOUR)
        assert ph.is_due(ADDRESS, now=now, last_at=now - 25 * HOUR - dt.timedelta(seconds=1))


class TestMailboxCredentials:
    """The mailbox's certificate, chain and held key, or a one-line reason."""

    def test_loads_the_current_certificate_chain_and_key(self, inv: Inventory) -> None:
        creds = ph.mailbox_credentials(store=inv.store, settings=inv.settings,
                                       address=ADDRESS, passphrase=_secret)
        assert "O=CENTRE HOSPITALIER FIXTURE" in creds.certificate.subject.rfc4514_string()
        assert [c.subject.rfc4514_string() for c in creds.chain] == [
            creds.certificate.issuer.rfc4514_string()]  # the intermediate, not the root

    def test_unknown_mailbox(self, inv: Inventory) -> None:
        with pytest.raises(NotFoundError, match=r"no mailbox nobody@x\.mssante\.fr"):
            ph.mailbox_credentials(store=inv.store, settings=inv.settings,
                                   address="nobody@x.mssante.fr", passphrase=_secret)

    def test_no_current_certificate(self, inv: Inventory) -> None:
        with pytest.raises(NotFoundError, match="has no current certificate"):
            ph.mailbox_credentials(store=inv.store, settings=inv.settings, address=OTHER,
                                   passphrase=_secret)

    def test_no_key_held_here(self, tmp_path: Path, pki: Pki) -> None:
        for inventory in build_inventory(tmp_path / "h2", pki, hold_key=False):
            with pytest.raises(InputError, match="not held here"):
                ph.mailbox_credentials(store=inventory.store, settings=inventory.settings,
                                       address=ADDRESS, passphrase=_secret)

    def test_wrong_passphrase(self, inv: Inventory) -> None:
        with pytest.raises(PassphraseError, match="wrong passphrase"):
            ph.mailbox_credentials(store=inv.store, settings=inv.settings, address=ADDRESS,
                                   passphrase=lambda: Secret(b"not the passphrase"))


class TestCliMailbox:
    """`certmgr probe --mailbox`: mutual TLS with what the store holds."""

    def test_server_accepts_the_mailbox_certificate(
            self, cli: Invoke, pki: Pki, inv: Inventory, mtls: ImapServer,
            monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CERTMGR_PASSPHRASE", PASSPHRASE)
        out = cli("probe", f"127.0.0.1:{mtls.port}", "--starttls", "imap", "--mailbox",
                  ADDRESS, "--at", pki.at_text, "--timeout", "5", "--json")
        assert out.code == 0, out
        report = out.json()
        assert report["client_certificate"] == "accepted"
        assert report["response"][-1].startswith("a2 OK")
        assert "CLIENT_CERT_ACCEPTED" in out.codes()
        assert ph.last_probe(store=inv.store, address=ADDRESS) is None  # not --record

    def test_record_stores_the_result_and_the_endpoint(
            self, cli: Invoke, pki: Pki, inv: Inventory, mtls: ImapServer,
            monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CERTMGR_PASSPHRASE", PASSPHRASE)
        out = cli("probe", f"127.0.0.1:{mtls.port}", "--starttls", "imap", "--mailbox",
                  ADDRESS, "--record", "--at", pki.at_text, "--timeout", "5")
        assert out.code == 0, out
        last = ph.last_probe(store=inv.store, address=ADDRESS)
        assert last is not None
        assert (last.ok, last.status, last.client_outcome) == (True, "OK", "accepted")
        assert last.tls_version == "TLSv1.3"
        assert last.cipher
        assert last.server_days_left is not None
        assert last.server_days_left > 30
        assert last.endpoint == f"127.0.0.1:{mtls.port}"
        assert ph.mailbox_endpoint(store=inv.store, address=ADDRESS) == ProbeTarget(
            "127.0.0.1", mtls.port, StartTls.IMAP)
        # later probes find the endpoint in the store
        again = cli("probe", "--mailbox", ADDRESS, "--at", pki.at_text, "--json")
        assert again.code == 0, again
        assert again.json()["target"]["port"] == mtls.port

    def test_wrong_passphrase_is_one_line(self, cli: Invoke, pki: Pki, inv: Inventory,
                                          mtls: ImapServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CERTMGR_PASSPHRASE", "not it")
        out = cli("probe", f"127.0.0.1:{mtls.port}", "--starttls", "imap", "--mailbox",
                  ADDRESS, "--at", pki.at_text)
        assert out.code == 3
        assert out.err.strip().count("\n") == 0
        assert "wrong passphrase" in out.err
        assert "not it" not in out.err + out.out

    @pytest.mark.parametrize(("address", "message"), [
        ("nobody@ch-fixture.mssante.fr", "no mailbox nobody@ch-fixture.mssante.fr"),
        (OTHER, "has no current certificate"),
    ])
    def test_mailbox_errors_are_one_line(self, cli: Invoke, inv: Inventory, address: str,
                                         message: str) -> None:
        assert inv.store.url
        out = cli("probe", "127.0.0.1:1", "--mailbox", address)
        assert out.code == 3
        assert message in out.err
        assert out.err.strip().count("\n") == 0

    def test_mailbox_without_endpoint(self, cli: Invoke, inv: Inventory,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
        assert inv.store.url
        monkeypatch.setenv("CERTMGR_PASSPHRASE", PASSPHRASE)
        out = cli("probe", "--mailbox", ADDRESS)
        assert out.code == 3
        assert "has no endpoint" in out.err


def _probes(inv: Inventory) -> list[ProbeResult]:
    from sqlmodel import col, select  # noqa: PLC0415

    with inv.store.sessions() as session:
        return list(session.scalars(select(ProbeResult).order_by(col(ProbeResult.id))))


class TestProbeJob:
    """`certmgr.jobs.probe_endpoints`: due mailboxes, results stored, one alert per failure."""

    def _point(self, inv: Inventory, port: int) -> None:
        ph.set_endpoint(store=inv.store, address=ADDRESS, at=inv.at, actor="t",
                        target=ProbeTarget("127.0.0.1", port, StartTls.IMAP))

    def test_only_the_mailboxes_due_this_hour_are_probed(self, inv: Inventory,
                                                         mtls: ImapServer) -> None:
        self._point(inv, mtls.port)
        day = inv.at.replace(hour=0, minute=0, second=0)
        slot_hour = day + dt.timedelta(hours=int(ph.probe_slot(ADDRESS).total_seconds()) // 3600)
        other_hour = slot_hour + 5 * HOUR
        channel = RecordingChannel()
        details = jobs.probe_endpoints(inv.settings, now=other_hour, channels=[channel])
        assert details["probed"] == {}
        assert details["endpoints"] == 1
        details = jobs.probe_endpoints(inv.settings, now=slot_hour + dt.timedelta(minutes=7),
                                       passphrase=_secret(), channels=[channel])
        assert details["probed"] == {ADDRESS: "OK"}
        [row] = _probes(inv)
        assert row.client_outcome == "accepted"  # the passphrase opened the held key

    def test_alert_once_per_transition_to_failing(self, inv: Inventory, mtls: ImapServer,
                                                  closed_port: int) -> None:
        channel = RecordingChannel()
        now = inv.at

        def run(port: int) -> dict[str, object]:
            nonlocal now
            self._point(inv, port)
            now += HOUR
            return jobs.probe_endpoints(inv.settings, now=now, passphrase=_secret(),
                                        channels=[channel], timeout=3, every=True)

        run(mtls.port)
        assert channel.sent == []
        run(closed_port)
        assert len(channel.sent) == 1
        [message] = channel.sent
        assert message.recipients == (CONTACT,)
        assert message.data["kind"] == "probe_failed"
        assert ADDRESS in message.text
        assert "TLS_CONNECT_REFUSED" in message.text
        run(closed_port)  # still failing: already told
        assert len(channel.sent) == 1
        run(mtls.port)  # recovers: nothing to tell
        assert len(channel.sent) == 1
        run(closed_port)  # fails again: a new transition
        assert len(channel.sent) == 2
        assert [r.ok for r in _probes(inv)] == [True, False, False, True, False]

    def test_without_the_passphrase_the_job_probes_without_client_certificate(
            self, inv: Inventory, mtls: ImapServer) -> None:
        self._point(inv, mtls.port)
        details = jobs.probe_endpoints(inv.settings, now=inv.at, channels=[], every=True)
        [row] = _probes(inv)
        assert row.client_outcome is None
        assert "CLIENT_CERT_REQUIRED" in row.codes
        assert details["probed"] == {ADDRESS: "WARNING"}

    def test_the_job_is_scheduled_hourly(self, inv: Inventory) -> None:
        from certmgr.scheduler import describe_jobs, start  # noqa: PLC0415

        assert jobs.JOBS["probe_endpoints"] is jobs.probe_endpoints
        scheduler, _missed = start(inv.settings, now=inv.at, paused=True)
        try:
            [job] = [j for j in describe_jobs(scheduler) if j["job"] == "probe_endpoints"]
        finally:
            scheduler.shutdown(wait=False)
        assert "minute='0'" in job["trigger"]
        assert job["next_run"].minute == 0


class TestMetrics:
    """The latest probe per mailbox, scraped as Prometheus text."""

    def test_probe_metrics(self, inv: Inventory, mtls: ImapServer, closed_port: int) -> None:
        target = ProbeTarget("127.0.0.1", mtls.port, StartTls.IMAP)
        report = ph.probe_mailbox(store=inv.store, settings=inv.settings, address=ADDRESS,
                                  at=inv.at, timeout=5, passphrase=_secret, target=target)
        ph.record_probe(store=inv.store, address=ADDRESS, report=report)
        scrape_at = inv.at + dt.timedelta(days=10)
        text = generate_latest(make_registry(inv.store, clock=FixedClock(scrape_at))).decode()
        labels = f'endpoint="127.0.0.1:{mtls.port}",mailbox="{ADDRESS}"'
        assert f"certmgr_probe_success{{{labels}}} 1.0" in text
        assert f"certmgr_probe_tls_version{{{labels}}} 1.3" in text
        assert report.server_certificate is not None
        days = (report.server_certificate.not_after - scrape_at).days
        assert f"certmgr_probe_server_cert_days_left{{{labels}}} {days:.1f}" in text
        assert "certmgr_probe_server_cert_not_after_timestamp_seconds{" in text

        failing = ph.probe_mailbox(store=inv.store, settings=inv.settings, address=ADDRESS,
                                   at=inv.at + HOUR, timeout=3, passphrase=_secret,
                                   target=ProbeTarget("127.0.0.1", closed_port, StartTls.IMAP))
        ph.record_probe(store=inv.store, address=ADDRESS, report=failing)
        text = generate_latest(make_registry(inv.store, clock=FixedClock(scrape_at))).decode()
        labels = f'endpoint="127.0.0.1:{closed_port}",mailbox="{ADDRESS}"'
        assert f"certmgr_probe_success{{{labels}}} 0.0" in text
        assert "certmgr_probe_tls_version{" not in text  # no TLS session, no version
        assert "certmgr_probe_server_cert_days_left{" not in text
