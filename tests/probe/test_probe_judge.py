"""The pure half of the probe: observations in, findings and Nagios status out."""

from __future__ import annotations

import pytest

from certmgr.cli.probe import parse_host_port
from certmgr.errors import InputError
from certmgr.fetch.probe import (
    FailureKind,
    ProbeFailure,
    ProbeTarget,
    Stage,
    StartTls,
    TlsObservation,
)
from certmgr.pki.findings import Severity
from certmgr.services.probe import (
    NagiosStatus,
    ProbeCode,
    ProbeFinding,
    by_significance,
    code_rank,
    judge_probe,
    trust_from_files,
)
from certmgr.services.trustctx import TrustMaterial

from .conftest import Pki

TARGET = ProbeTarget("mail.operator.example", 993, StartTls.NONE)


@pytest.fixture
def trust(pki: Pki) -> TrustMaterial:
    return trust_from_files([pki.trust])


def _failed(kind: FailureKind, stage: Stage, alert: str | None = None) -> TlsObservation:
    return TlsObservation(target=TARGET, failure=ProbeFailure(kind, stage, "detail", alert))


class TestStatus:
    @pytest.mark.parametrize(("kind", "stage", "code", "status"), [
        (FailureKind.DNS, Stage.RESOLVE, ProbeCode.TLS_DNS, NagiosStatus.UNKNOWN),
        (FailureKind.REFUSED, Stage.CONNECT, ProbeCode.TLS_CONNECT_REFUSED,
         NagiosStatus.CRITICAL),
        (FailureKind.NETWORK, Stage.CONNECT, ProbeCode.TLS_CONNECT_FAILED,
         NagiosStatus.CRITICAL),
        (FailureKind.TIMEOUT, Stage.HANDSHAKE, ProbeCode.TLS_TIMEOUT, NagiosStatus.CRITICAL),
        (FailureKind.HANDSHAKE, Stage.HANDSHAKE, ProbeCode.TLS_HANDSHAKE,
         NagiosStatus.CRITICAL),
        (FailureKind.CLOSED, Stage.APPLICATION, ProbeCode.SERVER_PROTOCOL,
         NagiosStatus.CRITICAL),
    ])
    def test_network_failures(self, trust: TrustMaterial, pki: Pki, kind: FailureKind,
                              stage: Stage, code: ProbeCode, status: NagiosStatus) -> None:
        report = judge_probe(_failed(kind, stage), trust=trust, at=pki.at)
        assert [f.code for f in report.findings] == [code]
        assert report.status is status
        assert report.summary().startswith(f"TLS {status.name} - mail.operator.example:993: ")

    def test_an_alert_unrelated_to_client_certificates(self, trust: TrustMaterial,
                                                       pki: Pki) -> None:
        obs = _failed(FailureKind.ALERT, Stage.HANDSHAKE, alert="protocol version")
        report = judge_probe(obs, trust=trust, at=pki.at)
        assert [f.code for f in report.findings] == [ProbeCode.TLS_ALERT]
        assert report.status is NagiosStatus.CRITICAL

    def test_client_hang_up_after_handshake_is_a_rejection(self, trust: TrustMaterial,
                                                           pki: Pki) -> None:
        obs = TlsObservation(target=TARGET, handshake_completed=True, protocol="TLSv1.3",
                             client_cert_requested=True, client_cert_sent=True,
                             failure=ProbeFailure(FailureKind.CLOSED, Stage.APPLICATION,
                                                  "closed"))
        report = judge_probe(obs, trust=trust, at=pki.at, client_presented=True)
        assert [f.code for f in report.findings] == [ProbeCode.CLIENT_CERT_REJECTED]

    def test_https_like_server_accepts_by_completing_the_handshake(
            self, trust: TrustMaterial, pki: Pki) -> None:
        obs = TlsObservation(target=TARGET, handshake_completed=True, protocol="TLSv1.2",
                             client_cert_requested=True, client_cert_sent=True)
        report = judge_probe(obs, trust=trust, at=pki.at, client_presented=True)
        assert [f.code for f in report.findings] == [ProbeCode.CLIENT_CERT_ACCEPTED]
        assert report.status is NagiosStatus.OK

    def test_old_protocol(self, trust: TrustMaterial, pki: Pki) -> None:
        obs = TlsObservation(target=TARGET, handshake_completed=True, protocol="TLSv1")
        report = judge_probe(obs, trust=trust, at=pki.at)
        assert [f.code for f in report.findings] == [ProbeCode.TLS_VERSION]


class TestMostSignificantFinding:
    """The finding a summary line, a stored probe and its alert lead with: the most severe,
    then the cause before its symptom."""

    def test_a_refused_client_certificate_explains_the_broken_handshake(
            self, trust: TrustMaterial, pki: Pki) -> None:
        reset = ProbeFailure(FailureKind.HANDSHAKE, Stage.HANDSHAKE,
                             "connection closed by the server (104; ECONNRESET)")
        obs = TlsObservation(target=TARGET, client_cert_requested=True,
                             client_cert_sent=True, failure=reset)
        report = judge_probe(obs, trust=trust, at=pki.at, client_presented=True)
        assert [f.code for f in report.findings] == [ProbeCode.TLS_HANDSHAKE,
                                                     ProbeCode.CLIENT_CERT_REJECTED]
        assert [f.code for f in by_significance(report.findings)] == [
            ProbeCode.CLIENT_CERT_REJECTED, ProbeCode.TLS_HANDSHAKE]
        assert ": CLIENT_CERT_REJECTED: The server refused" in report.summary()

    def test_severity_comes_before_specificity(self) -> None:
        warning = ProbeFinding(ProbeCode.SERVER_NAME_MISMATCH, Severity.WARNING, "name")
        error = ProbeFinding(ProbeCode.TLS_HANDSHAKE, Severity.ERROR, "reset")
        rejected = ProbeFinding(ProbeCode.CLIENT_CERT_REJECTED, Severity.ERROR, "refused")
        assert by_significance([warning, error, rejected]) == [rejected, error, warning]

    def test_causes_rank_before_other_codes_and_symptoms_after(self) -> None:
        assert code_rank("CLIENT_CERT_REJECTED") < code_rank("SERVER_CERT_INVALID")
        assert code_rank("SERVER_CERT_INVALID") < code_rank("EXPIRED")
        assert code_rank("EXPIRED") == code_rank("SERVER_NAME_MISMATCH")
        assert code_rank("EXPIRED") < code_rank("TLS_ALERT") < code_rank("TLS_HANDSHAKE")


class TestArguments:
    @pytest.mark.parametrize(("text", "expected"), [
        ("imap.example", ("imap.example", 143)),
        ("imap.example:993", ("imap.example", 993)),
        ("[::1]:993", ("::1", 993)),
        ("[::1]", ("::1", 143)),
        ("::1", ("::1", 143)),
        ("192.0.2.1:25", ("192.0.2.1", 25)),
        ("host:", ("host", 143)),
    ])
    def test_host_port(self, text: str, expected: tuple[str, int]) -> None:
        assert parse_host_port(text, default_port=143) == expected

    @pytest.mark.parametrize("text", ["host:port", "[::1]x", "host:-1"])
    def test_bad_host_port(self, text: str) -> None:
        with pytest.raises(InputError):
            parse_host_port(text, default_port=143)

    @pytest.mark.parametrize(("host", "port"), [("", 25), ("a b", 25), ("h", 0), ("h", 65536)])
    def test_bad_target(self, host: str, port: int) -> None:
        with pytest.raises(InputError):
            ProbeTarget(host, port)
