"""certificate_facts on odd certificates, and `certmgr inspect`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from certmgr.cli import run
from certmgr.pki.facts import Environment, Product, certificate_facts
from tests.support import require_fixed_pki

from .conftest import MakeCert


def _bare(key: rsa.RSAPrivateKey, *extensions: x509.ExtensionType) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=True)
    return builder.sign(key, hashes.SHA256())


class TestOddCertificates:
    """Never raise: record what can be read."""

    def test_no_extensions(self, rsa_key: rsa.RSAPrivateKey) -> None:
        facts = certificate_facts(_bare(rsa_key))
        assert (facts.key_usage, facts.extended_key_usage, facts.san) == ((), (), ())
        assert not facts.is_ca
        assert facts.self_issued
        assert facts.product is Product.UNKNOWN
        assert facts.environment is Environment.OTHER
        assert facts.idnat is None
        assert facts.parse_errors == ()

    def test_malformed_extension(self, rsa_key: rsa.RSAPrivateKey) -> None:
        broken = x509.UnrecognizedExtension(ExtensionOID.KEY_USAGE, b"\x01\x02garbage")
        facts = certificate_facts(_bare(rsa_key, broken))
        assert facts.parse_errors
        assert facts.parse_errors[0].startswith("extensions:")
        assert facts.key_usage == ()

    def test_unknown_critical_recorded(self, rsa_key: rsa.RSAPrivateKey) -> None:
        private = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.250.1.71.1.2.5"), b"\x05")
        facts = certificate_facts(_bare(rsa_key, private))
        assert facts.critical_extensions == ("1.2.250.1.71.1.2.5",)

    def test_json_round_trip(self, make_cert: MakeCert) -> None:
        facts = certificate_facts(make_cert())
        data = json.loads(json.dumps(facts.to_json()))
        assert data["fingerprint_sha256"] == facts.fingerprint_sha256
        assert data["idnat"]["kind"] == "SIRET"
        assert data["serial_hex"] == facts.serial_hex
        assert data["not_after"] == "2028-01-01T00:00:00+00:00"


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        run(argv)
    return int(info.value.code or 0)


class TestInspectCli:
    def test_real_files_text(self, igc: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code = _run(["inspect", str(igc / "legacy/classe4.pem"),
                     str(igc / "production/Chaine_de_certification-IGC-Sante.p7b")])
        out = capsys.readouterr().out
        assert code == 0
        assert "LEGACY GIP-CPS" in out
        assert out.count("pinned       ANS") == 8

    def test_real_files_json(self, igc: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code = _run(["inspect", "--json", str(igc / "test-env/ACI-EL-ORG-TEST.cer"),
                     str(igc / "test-leaves/2600301752-Auth.crt")])
        items = json.loads(capsys.readouterr().out)
        assert code == 0
        assert [item["product"] for item in items] == ["CA", "PERSON"]
        assert items[0]["environment"] == "TEST"
        assert items[0]["pinned_ans_ca"] == "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"

    def test_broken_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        broken = tmp_path / "broken.pem"
        broken.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB!!\n-----END CERTIFICATE-----\n")
        code = _run(["inspect", str(broken)])
        err = capsys.readouterr().err
        assert code == 2
        assert err.count("\n") == 1
        assert str(broken) in err

    def test_missing_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code = _run(["inspect", str(tmp_path / "absent.cer")])
        err = capsys.readouterr().err
        assert code == 2
        assert "absent.cer" in err
        assert err.count("\n") == 1


class TestInspectOtherContents:
    """A CRL, a CSR or a key is described too: never an empty answer with exit 0."""

    def test_crl_text_and_json(self, capsys: pytest.CaptureFixture[str]) -> None:
        crl = require_fixed_pki() / "crl" / "ACI-EL-ORG-delta.crl"
        assert _run(["inspect", str(crl)]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"{crl}: CRL of CN=AC IGC-SANTE ELEMENTAIRE ORGANISATIONS")
        assert "number       101, delta of #100" in out
        assert "updates      2025-06-01T11:30:00+00:00 .. 2025-06-02T12:00:00+00:00" in out
        assert _run(["inspect", "--json", str(crl)]) == 0
        (doc,) = json.loads(capsys.readouterr().out)
        assert (doc["kind"], doc["number"], doc["delta_of"], doc["entries"]) == ("crl", 101,
                                                                                  100, 1)
        assert doc["unusable"] is None

    def test_csr_and_key_never_show_material(self, rsa_key: rsa.RSAPrivateKey, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dpi")]))
               .sign(rsa_key, hashes.SHA256()))
        request = tmp_path / "dpi.csr"
        request.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        key = tmp_path / "dpi.key"
        key.write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        assert _run(["inspect", str(request), str(key)]) == 0
        out = capsys.readouterr().out
        assert f"{request}: certificate request CN=dpi" in out
        assert f"RSA-{rsa_key.key_size}, self-signature valid" in out
        assert f"{key}: private key RSA-{rsa_key.key_size} (its material is never shown)" in out
        assert "PRIVATE KEY" not in out
        assert _run(["inspect", "--json", str(request), str(key)]) == 0
        kinds = [d["kind"] for d in json.loads(capsys.readouterr().out)]
        assert kinds == ["csr", "private-key"]

    def test_pkcs12_lists_certificates_then_its_key(self, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
        secret = tmp_path / "p12.txt"
        secret.write_text("fixture-p12-password\n")
        secret.chmod(0o600)
        p12 = require_fixed_pki() / "bundles" / "el-org-auth-valid.p12"
        assert _run(["inspect", "--json", "--passphrase-file", str(secret), str(p12)]) == 0
        kinds = [d["kind"] for d in json.loads(capsys.readouterr().out)]
        assert kinds[0] == "certificate"
        assert kinds[-1] == "private-key"
