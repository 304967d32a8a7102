"""`certmgr probe` against real TLS servers on loopback: findings and Nagios exit codes."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from .conftest import ImapServer, Invoke, Outcome, Pki, SmtpServer, server_context

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
StartSmtp = Callable[..., SmtpServer]


def _probe(cli: Invoke, pki: Pki, endpoint: str, *args: str | Path) -> Outcome:
    out = cli("probe", endpoint, "--trust", pki.trust, "--at", pki.at_text, "--timeout", "3",
              "--json", *args)
    assert out.json()["exit_code"] == out.code, out.err
    return out


def _client(pki: Pki, name: str) -> tuple[str, Path, str, Path]:
    return ("--cert", pki.cert(name), "--key", pki.key(name))


class TestImapStartTls:
    """IMAP STARTTLS on a server presenting the fixture SERV SSL chain."""

    def test_compliant_server_is_ok(self, cli: Invoke, pki: Pki, tmp_path: Path) -> None:
        with ImapServer(server_context(pki, tmp_path)) as server:
            out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "imap")
        report = out.json()
        assert out.code == OK, out.out
        assert report["status"] == "OK"
        assert report["protocol"] in {"TLSv1.2", "TLSv1.3"}
        assert report["cipher"]
        assert report["greeting"] == ["* OK IMAP4rev1 ready"]
        assert report["response"][-1] == "a2 OK CAPABILITY completed"
        assert [s.split(",")[0] for s in report["chain"]] == [
            "CN=mss.clinique-fixture.example", "CN=AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"]
        assert report["server_certificate"]["valid"] is True
        assert report["client_certificate"] is None
        assert not {f["code"] for f in report["findings"] if f["severity"] != "info"}

    def test_text_output_is_a_nagios_line(self, cli: Invoke, pki: Pki, tmp_path: Path) -> None:
        with ImapServer(server_context(pki, tmp_path)) as server:
            out = cli("probe", f"127.0.0.1:{server.port}", "--starttls", "imap",
                      "--trust", pki.trust, "--at", pki.at_text, "--timeout", "3")
        assert out.code == OK
        first = out.out.splitlines()[0]
        assert first.startswith(f"TLS OK - 127.0.0.1:{server.port}: TLSv1.")
        assert "days_left=" in first
        assert "chain[1]: CN=AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" in out.out

    def test_starttls_refused(self, cli: Invoke, pki: Pki, tmp_path: Path) -> None:
        with ImapServer(server_context(pki, tmp_path), starttls=False) as server:
            out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "imap")
        assert out.code == CRITICAL
        assert "STARTTLS_UNSUPPORTED" in out.codes()
        assert out.json()["failure"]["stage"] == "starttls"

    def test_host_name_not_in_certificate_warns(self, cli: Invoke, pki: Pki,
                                                tmp_path: Path) -> None:
        with ImapServer(server_context(pki, tmp_path)) as server:
            out = _probe(cli, pki, f"localhost:{server.port}", "--starttls", "imap")
        assert out.code == WARNING
        assert "SERVER_NAME_MISMATCH" in out.codes()

    def test_missing_intermediate_warns(self, cli: Invoke, pki: Pki, tmp_path: Path) -> None:
        with ImapServer(server_context(pki, tmp_path, chain=())) as server:
            out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "imap")
        assert out.code == WARNING  # the stored intermediate still validates it
        assert out.codes() >= {"SERVER_CHAIN_INCOMPLETE"}
        assert out.json()["server_certificate"]["valid"] is True


class TestMutualTls:
    """A server that requires client certificates issued by the fixture ACI-EL-ORG."""

    def test_fixture_auth_certificate_is_accepted(self, cli: Invoke, pki: Pki,
                                                  tmp_path: Path) -> None:
        with ImapServer(server_context(pki, tmp_path, verify_clients=True)) as server:
            out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "imap",
                         *_client(pki, "el-org-auth-valid"))
        report = out.json()
        assert out.code == OK, out.out
        assert "CLIENT_CERT_ACCEPTED" in out.codes()
        assert report["client_certificate"] == "accepted"
        assert report["client_cert_requested"] is True
        assert report["client_ca_names"] == []  # Python's ssl names no CA; not required

    @pytest.mark.parametrize("tls12_max", [False, True], ids=["tls1.3", "tls1.2"])
    def test_unknown_ca_certificate_is_rejected(self, cli: Invoke, pki: Pki, tmp_path: Path,
                                                tls12_max: bool) -> None:
        # TLS 1.3: the refusal comes after the handshake, on the first read; TLS 1.2: in it
        context = server_context(pki, tmp_path, verify_clients=True, tls12_max=tls12_max)
        with ImapServer(context) as server:
            out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "imap",
                         *_client(pki, "unknown-ca-auth"))
        assert server.errors  # the server did refuse it (its threads are joined by now)
        report = out.json()
        assert out.code == CRITICAL
        assert "CLIENT_CERT_REJECTED" in out.codes()
        assert "CLIENT_CERT_ACCEPTED" not in out.codes()
        assert report["client_certificate"] == "rejected"
        assert report["failure"]["alert"] == "unknown ca", report["failure"]
        # the server side was still judged
        assert report["server_certificate"]["valid"] is True

    def test_no_client_certificate_when_one_is_required(self, cli: Invoke, pki: Pki,
                                                        tmp_path: Path) -> None:
        with ImapServer(server_context(pki, tmp_path, verify_clients=True)) as server:
            out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "imap")
        assert out.code == WARNING
        assert out.codes() >= {"CLIENT_CERT_REQUIRED"}
        assert "TLS_ALERT" not in out.codes()

    def test_encrypted_key_opens_with_the_passphrase(self, cli: Invoke, pki: Pki,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
        key = serialization.load_pem_private_key(pki.key("el-org-auth-valid").read_bytes(), None)
        encrypted = tmp_path / "auth.key.pem"
        encrypted.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"fixture passphrase")))
        args = ("--starttls", "imap", "--cert", pki.cert("el-org-auth-valid"),
                "--key", encrypted)
        with ImapServer(server_context(pki, tmp_path, verify_clients=True)) as server:
            monkeypatch.setenv("CERTMGR_PASSPHRASE", "fixture passphrase")
            good = _probe(cli, pki, f"127.0.0.1:{server.port}", *args)
            monkeypatch.setenv("CERTMGR_PASSPHRASE", "wrong")
            wrong = cli("probe", f"127.0.0.1:{server.port}", "--trust", pki.trust, *args)
        assert good.code == OK
        assert "CLIENT_CERT_ACCEPTED" in good.codes()
        assert wrong.code == UNKNOWN
        assert "passphrase" in wrong.err

    def test_server_that_never_asks(self, cli: Invoke, pki: Pki, tmp_path: Path) -> None:
        with ImapServer(server_context(pki, tmp_path)) as server:
            out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "imap",
                         *_client(pki, "el-org-auth-valid"))
        assert out.code == WARNING
        assert "CLIENT_CERT_NOT_REQUESTED" in out.codes()
        assert out.json()["client_certificate"] == "not-requested"

    def test_smtp_ehlo_after_starttls_tells_acceptance(self, cli: Invoke, pki: Pki,
                                                       tmp_path: Path,
                                                       smtp_server: StartSmtp) -> None:
        server = smtp_server(tls_context=server_context(pki, tmp_path, verify_clients=True),
                             require_starttls=True)
        good = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "smtp",
                      *_client(pki, "el-org-auth-valid"))
        bad = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "smtp",
                     *_client(pki, "unknown-ca-auth"))
        assert good.code == OK, good.out
        assert "CLIENT_CERT_ACCEPTED" in good.codes()
        assert good.json()["response"][-1].startswith("250 ")
        assert bad.code == CRITICAL
        assert "CLIENT_CERT_REJECTED" in bad.codes()


class TestSmtpStartTls:
    def test_imap_probe_of_an_smtp_server(self, cli: Invoke, pki: Pki, tmp_path: Path,
                                          smtp_server: StartSmtp) -> None:
        server = smtp_server(tls_context=server_context(pki, tmp_path), require_starttls=True)
        out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "imap")
        assert out.code == CRITICAL
        assert out.codes() == {"SERVER_PROTOCOL"}
        assert out.json()["failure"]["stage"] == "greeting"

    def test_compliant_server_is_ok(self, cli: Invoke, pki: Pki, tmp_path: Path,
                                    smtp_server: StartSmtp) -> None:
        server = smtp_server(tls_context=server_context(pki, tmp_path), require_starttls=True)
        out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "smtp")
        report = out.json()
        assert out.code == OK, out.out
        assert report["greeting"][0].startswith("220 ")
        assert report["response"][0].startswith("250")
        assert report["server_certificate"]["valid"] is True

    def test_server_without_starttls(self, cli: Invoke, pki: Pki,
                                     smtp_server: StartSmtp) -> None:
        server = smtp_server()
        out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "smtp")
        assert out.code == CRITICAL
        assert out.codes() == {"STARTTLS_UNSUPPORTED"}


class TestServerCertificate:
    def test_expired_certificate(self, cli: Invoke, pki: Pki, tmp_path: Path) -> None:
        not_after = pki.index["el-org-serv-ssl"].not_after
        assert not_after is not None
        later = (not_after + dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        with ImapServer(server_context(pki, tmp_path)) as server:
            out = cli("probe", f"127.0.0.1:{server.port}", "--starttls", "imap", "--trust",
                      pki.trust, "--at", later, "--timeout", "3", "--json")
        assert out.code == CRITICAL
        assert out.codes() >= {"SERVER_CERT_INVALID", "EXPIRED"}
        assert out.json()["server_certificate"]["days_left"] < 0

    def test_expiring_soon_warns(self, cli: Invoke, pki: Pki, tmp_path: Path) -> None:
        not_after = pki.index["el-org-serv-ssl"].not_after
        assert not_after is not None
        soon = (not_after - dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        with ImapServer(server_context(pki, tmp_path)) as server:
            out = cli("probe", f"127.0.0.1:{server.port}", "--starttls", "imap", "--trust",
                      pki.trust, "--at", soon, "--timeout", "3", "--json")
        assert out.code == WARNING
        assert "SERVER_CERT_EXPIRING" in out.codes()

    def test_non_igc_chain(self, cli: Invoke, pki: Pki, tmp_path: Path) -> None:
        context = server_context(pki, tmp_path, leaf="unknown-ca-auth", chain=("UNKNOWN-ACR",))
        with ImapServer(context) as server:
            out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "imap")
        assert out.code == CRITICAL
        assert "SERVER_CERT_INVALID" in out.codes()
        assert out.codes() & {"UNTRUSTED_ROOT", "NO_PATH"}
        assert "SERVER_PROFILE" in out.codes()  # an AUTH_CLI certificate, not SERV SSL

    def test_revoked_by_the_given_crl(self, cli: Invoke, pki: Pki, tmp_path: Path) -> None:
        context = server_context(pki, tmp_path, leaf="el-org-auth-revoked")
        with ImapServer(context) as server:
            out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "imap",
                         "--crl", pki.index.path("crl-ACI-EL-ORG"),
                         "--crl", pki.index.path("arl-ACR-EL"))
        assert out.code == CRITICAL
        assert out.codes() >= {"SERVER_CERT_INVALID", "REVOKED", "SERVER_PROFILE"}

    def test_good_certificate_with_crls(self, cli: Invoke, pki: Pki, tmp_path: Path) -> None:
        with ImapServer(server_context(pki, tmp_path)) as server:
            out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "imap",
                         "--crl", pki.index.path("crl-ACI-EL-ORG"),
                         "--crl", pki.index.path("arl-ACR-EL"))
        assert out.code == OK, out.out


class TestOldTls:
    def test_tls_1_1_only_server(self, cli: Invoke, pki: Pki, tmp_path: Path) -> None:
        try:
            context = server_context(pki, tmp_path, tls11_only=True)
        except (ValueError, OSError) as exc:
            pytest.skip(f"the local OpenSSL (server side) refuses TLS 1.1: {exc}")
        with ImapServer(context, implicit=True) as server:
            out = _probe(cli, pki, f"127.0.0.1:{server.port}", "--starttls", "none")
        report = out.json()
        if report["protocol"] is None:
            pytest.skip(f"the local OpenSSL cannot negotiate TLS 1.1: {report['failure']}")
        assert report["protocol"] == "TLSv1.1"
        assert out.code == CRITICAL
        assert "TLS_VERSION" in out.codes()
        assert report["greeting"] == ["* OK IMAP4rev1 ready"]  # the IMAPS greeting after TLS


class TestNetworkFailures:
    def test_closed_port(self, cli: Invoke, pki: Pki, closed_port: int) -> None:
        out = _probe(cli, pki, f"127.0.0.1:{closed_port}", "--starttls", "imap")
        assert out.code == CRITICAL
        assert out.codes() == {"TLS_CONNECT_REFUSED"}
        assert out.json()["chain"] == []

    @pytest.mark.parametrize("mode", ["none", "imap", "smtp"])
    def test_server_that_never_answers(self, cli: Invoke, pki: Pki, silent_port: int,
                                       mode: str) -> None:
        started = time.monotonic()
        out = cli("probe", f"127.0.0.1:{silent_port}", "--starttls", mode, "--trust",
                  pki.trust, "--at", pki.at_text, "--timeout", "0.5", "--json")
        elapsed = time.monotonic() - started
        assert out.code == CRITICAL
        assert out.codes() == {"TLS_TIMEOUT"}
        assert out.json()["failure"]["stage"] == ("handshake" if mode == "none" else "greeting")
        assert elapsed < 2.5


class TestUsage:
    def test_no_trust_and_no_database_is_unknown(self, cli: Invoke, closed_port: int) -> None:
        out = cli("probe", f"127.0.0.1:{closed_port}")
        assert out.code == UNKNOWN
        assert out.out.startswith("TLS UNKNOWN - ")
        assert "--trust" in out.err

    def test_mailbox_excludes_cert_and_key(self, cli: Invoke, pki: Pki) -> None:
        out = cli("probe", "127.0.0.1:1", "--trust", pki.trust, "--mailbox", "a@b.mssante.fr",
                  "--cert", pki.cert("el-org-auth-valid"), "--key", pki.key("el-org-auth-valid"))
        assert out.code == 2
        assert "exclude" in out.err

    def test_record_needs_a_mailbox(self, cli: Invoke, pki: Pki) -> None:
        out = cli("probe", "127.0.0.1:1", "--trust", pki.trust, "--record")
        assert out.code == 2
        assert "--mailbox" in out.err

    def test_mailbox_without_an_inventory_is_unknown(self, cli: Invoke, pki: Pki) -> None:
        out = cli("probe", "127.0.0.1:1", "--trust", pki.trust, "--mailbox", "a@b.mssante.fr")
        assert out.code == 3
        assert "no inventory database" in out.err
        assert len(out.err.strip().splitlines()) == 1

    def test_cert_without_key(self, cli: Invoke, pki: Pki) -> None:
        out = cli("probe", "127.0.0.1:1", "--trust", pki.trust,
                  "--cert", pki.cert("el-org-auth-valid"))
        assert out.code == 2

    def test_key_of_another_certificate_is_unknown(self, cli: Invoke, pki: Pki) -> None:
        out = cli("probe", "127.0.0.1:1", "--trust", pki.trust,
                  "--cert", pki.cert("el-org-auth-valid"), "--key", pki.key("unknown-ca-auth"))
        assert out.code == UNKNOWN
        assert "does not match" in out.err


class TestStoreTrust:
    def test_store_anchors_and_crls_are_the_default(self, cli: Invoke, pki: Pki,
                                                    tmp_path: Path) -> None:
        assert cli("trust", "import", pki.trust).code == 0
        with ImapServer(server_context(pki, tmp_path)) as server:
            plain = cli("probe", f"127.0.0.1:{server.port}", "--starttls", "imap",
                        "--at", pki.at_text, "--timeout", "3", "--json")
            assert plain.code == OK, plain.out + plain.err
            assert "REVOCATION_NOT_CHECKED" in plain.codes()  # the store holds no CRL yet
            with_crl = cli("probe", f"127.0.0.1:{server.port}", "--starttls", "imap",
                           "--at", pki.at_text, "--timeout", "3", "--json",
                           "--crl", pki.index.path("crl-ACI-EL-ORG"),
                           "--crl", pki.index.path("arl-ACR-EL"))
        assert with_crl.code == OK, with_crl.out
        assert "REVOCATION_NOT_CHECKED" not in with_crl.codes()
