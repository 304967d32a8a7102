"""The probe job against real loopback servers: a server that refuses the mailbox's client
certificate raises one PROBE_FAILED alert (not one per run, not one per job), listed in the
digest; `certmgr jobs run probe_endpoints` takes the key passphrase from the usual sources."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from certmgr import jobs
from certmgr.fetch.probe import ProbeTarget, StartTls
from certmgr.secrets import Secret
from certmgr.services import probe_history as ph
from certmgr.store.models import Mailbox
from certmgr.store.models_alerts import JobRun
from certmgr.store.models_probes import ProbeResult

from .conftest import ImapServer, Invoke, Pki, RecordingChannel, server_context
from .inventory import (
    ADDRESS,
    CONTACT,
    OTHER,
    PASSPHRASE,
    Inventory,
    build_inventory,
    seed_stale_probe,
)

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def inv(tmp_path: Path, pki: Pki) -> Iterator[Inventory]:
    # under the `cli` fixture's home, so that the CLI sees this inventory
    yield from build_inventory(tmp_path / "home", pki)


def _latest(inv: Inventory, address: str) -> ProbeResult | None:
    with inv.store.sessions() as session:
        return session.scalars(select(ProbeResult).join(
            Mailbox, col(Mailbox.id) == col(ProbeResult.mailbox_id)).where(
            col(Mailbox.address) == address).order_by(col(ProbeResult.at).desc(),
                                                       col(ProbeResult.id).desc())).first()


class TestRefusedClientCertificate:
    """An operator's server that requires client certificates of another CA (here the
    STANDARD range) refuses the mailbox's ELEMENTAIRE certificate: told once."""

    @pytest.fixture
    def refusing(self, pki: Pki, tmp_path: Path) -> Iterator[ImapServer]:
        context = server_context(pki, tmp_path, verify_clients=True,
                                 client_cas=("ACR-ST", "ACI-ST-ORG"))
        with ImapServer(context) as server:
            yield server

    def test_alert_once_then_listed_in_the_digest(self, inv: Inventory,
                                                  refusing: ImapServer) -> None:
        seed_stale_probe(inv, refusing.port)
        channel = RecordingChannel()
        first = inv.at
        for now in (first, first + HOUR):  # the second run finds it still failing
            jobs.probe_endpoints(inv.settings, now=now, passphrase=Secret(PASSPHRASE.encode()),
                                 channels=[channel], timeout=5, every=True)
            latest = _latest(inv, ADDRESS)
            assert latest is not None
            assert (latest.ok, latest.client_outcome) == (False, "rejected")
            assert "CLIENT_CERT_REJECTED" in latest.codes
        assert refusing.errors  # the server did refuse the certificate
        [message] = channel.sent
        assert message.recipients == (CONTACT,)
        assert message.data["kind"] == "probe_failed"
        endpoint = f"127.0.0.1:{refusing.port}"
        assert ADDRESS in message.subject
        assert endpoint in message.subject
        # the refusal comes as an "unknown ca" alert or a reset, as the timing goes; either
        # way the refusal leads, with its sentence, before the broken handshake it caused
        stored = _latest(inv, ADDRESS)
        assert stored is not None
        assert stored.error is not None
        assert stored.error.startswith("CLIENT_CERT_REJECTED: The server refused")
        assert stored.codes[0] == "CLIENT_CERT_REJECTED"
        findings = message.data["findings"]
        assert isinstance(findings, list)
        assert findings[0]["code"] == "CLIENT_CERT_REJECTED"
        assert findings[0]["message"].startswith("The server refused")
        assert "  - CLIENT_CERT_REJECTED: The server refused" in message.text
        assert f"certmgr probe --mailbox {ADDRESS}" in message.text
        assert "Centre Hospitalier Fixture" in message.text  # the mailbox's structure
        # the alerts job tells the same fact under the same key: nothing new
        jobs.alerts(inv.settings, now=first + 2 * HOUR, channels=[channel])
        assert len(channel.sent) == 1
        digest = RecordingChannel()
        jobs.digest(inv.settings, now=first + 2 * HOUR, channels=[digest])
        [daily] = digest.sent
        assert endpoint in daily.text
        assert "CLIENT_CERT_REJECTED" in daily.text


class TestJobsRunPassphrase:
    """`certmgr jobs run probe_endpoints`: --passphrase-file, CERTMGR_PASSPHRASE, or none."""

    @pytest.fixture
    def mtls(self, pki: Pki, tmp_path: Path, inv: Inventory) -> Iterator[ImapServer]:
        """A server that accepts the fixture certificates, the mailbox due for a probe."""
        with ImapServer(server_context(pki, tmp_path, verify_clients=True)) as server:
            seed_stale_probe(inv, server.port)
            yield server

    @pytest.fixture
    def secret_file(self, tmp_path: Path) -> Path:
        path = tmp_path / "passphrase"
        path.write_text(PASSPHRASE + "\n", encoding="utf-8")
        path.chmod(0o600)
        return path

    @pytest.fixture(autouse=True)
    def _no_ambient_passphrase(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("CERTMGR_PASSPHRASE", raising=False)

    def test_passphrase_file(self, cli: Invoke, inv: Inventory, mtls: ImapServer,
                             secret_file: Path) -> None:
        out = cli("jobs", "run", "probe_endpoints", "--passphrase-file", secret_file, "--json")
        assert out.code == 0, out
        latest = _latest(inv, ADDRESS)
        assert latest is not None
        assert (latest.ok, latest.client_outcome) == (True, "accepted")
        assert PASSPHRASE not in out.out + out.err

    def test_environment(self, cli: Invoke, inv: Inventory, mtls: ImapServer,
                         monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CERTMGR_PASSPHRASE", PASSPHRASE)
        out = cli("jobs", "run", "probe_endpoints")
        assert out.code == 0, out
        latest = _latest(inv, ADDRESS)
        assert latest is not None
        assert latest.client_outcome == "accepted"

    def test_without_a_passphrase_the_probe_goes_without_client_certificate(
            self, cli: Invoke, inv: Inventory, mtls: ImapServer) -> None:
        out = cli("jobs", "run", "probe_endpoints")  # stdin is no terminal: no prompt
        assert out.code == 0, out
        latest = _latest(inv, ADDRESS)
        assert latest is not None
        assert latest.client_outcome is None
        assert "CLIENT_CERT_REQUIRED" in latest.codes

    def test_all_probes_an_endpoint_never_probed_whatever_the_hour(
            self, cli: Invoke, inv: Inventory, pki: Pki, tmp_path: Path,
            secret_file: Path) -> None:
        with ImapServer(server_context(pki, tmp_path, verify_clients=True)) as server:
            ph.set_endpoint(store=inv.store, address=ADDRESS, at=inv.at, actor="t",
                            target=ProbeTarget("127.0.0.1", server.port, StartTls.IMAP))
            out = cli("jobs", "run", "probe_endpoints", "--all", "--passphrase-file",
                      secret_file, "--json")
        assert out.code == 0, out
        latest = _latest(inv, ADDRESS)
        assert latest is not None
        assert latest.client_outcome == "accepted"

    def test_a_wrong_passphrase_fails_the_run_but_not_the_other_mailboxes(
            self, cli: Invoke, inv: Inventory, mtls: ImapServer,
            monkeypatch: pytest.MonkeyPatch) -> None:
        seed_stale_probe(inv, mtls.port, address=OTHER)  # no certificate: probed without
        monkeypatch.setenv("CERTMGR_PASSPHRASE", "not the passphrase")
        out = cli("jobs", "run", "probe_endpoints")
        assert out.code == 1, out
        assert out.err.strip().count("\n") == 0
        assert ADDRESS in out.err
        assert "wrong passphrase" in out.err
        assert "not the passphrase" not in out.out + out.err
        other = _latest(inv, OTHER)
        assert other is not None
        assert other.at > inv.at  # probed by this run, after the seeded one
        with inv.store.sessions() as session:
            run = session.scalars(select(JobRun).where(
                col(JobRun.job) == "probe_endpoints")).one()
        assert run.ok is False
        assert run.error is not None
        assert ADDRESS in run.error

    def test_passphrase_file_with_a_job_that_opens_no_key(self, cli: Invoke, inv: Inventory,
                                                          secret_file: Path) -> None:
        out = cli("jobs", "run", "scan", "--passphrase-file", secret_file)
        assert out.code == 2
        assert "go with the jobs that open keys (probe_endpoints), not scan" in out.err
        assert cli("jobs", "run", "heartbeat", "--all").code == 2

    def test_an_unsafe_passphrase_file_is_one_line(self, cli: Invoke, inv: Inventory,
                                                   secret_file: Path) -> None:
        secret_file.chmod(0o644)
        out = cli("jobs", "run", "probe_endpoints", "--passphrase-file", secret_file)
        assert out.code == 2
        assert out.err.strip().count("\n") == 0
        assert str(secret_file) in out.err
        with inv.store.sessions() as session:
            assert session.scalars(select(JobRun)).first() is None  # nothing ran
