"""`lint_csr` rules, on requests made by the real `openssl req` and by certmgr."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from certmgr.errors import InputError, ParseError
from certmgr.pki.csr import SubjectSpec, build_csr
from certmgr.pki.csr_lint import lint_csr
from certmgr.pki.findings import Code, Finding, Severity

GOOD_SUBJ = "/C=FR/ST=Paris (75)/O=ASIP-SANTE/OU=318751275100020/CN=bal@hopital.mssante.fr"
ORG_EXT = [
    "-addext",
    "keyUsage=critical,digitalSignature",
    "-addext",
    "extendedKeyUsage=clientAuth",
]


def _openssl_req(openssl: str, key: Path, tmp_path: Path, subj: str, *extra: str) -> bytes:
    out = tmp_path / "req.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-new",
            "-key",
            str(key),
            "-utf8",
            "-subj",
            subj,
            "-out",
            str(out),
            *extra,
        ],
        check=True,
        capture_output=True,
    )
    return out.read_bytes()


def _codes(findings: tuple[Finding, ...]) -> dict[Code, Severity]:
    return {f.code: f.severity for f in findings}


class TestOpensslRequests:
    """Each rule fires on a request made by `openssl req -subj ... -addext ...`."""

    def test_good_request_is_clean(self, openssl: str, test_key_file: Path, tmp_path: Path) -> None:
        pem = _openssl_req(openssl, test_key_file, tmp_path, GOOD_SUBJ, *ORG_EXT)
        assert lint_csr(pem, profile="ORG_AUTH_CLI") == ()
        assert lint_csr(pem) == ()

    @pytest.mark.parametrize(
        ("subj", "code", "severity"),
        [
            ("/C=FR/ST=Paris (75)/O=ASIP-SANTE/CN=x", Code.CSR_SUBJECT_MISSING, Severity.ERROR),
            (
                "/C=BE/ST=Paris (75)/O=A/OU=318751275100020/CN=x",
                Code.CSR_SUBJECT_COUNTRY,
                Severity.ERROR,
            ),
            (
                "/C=FR/ST=Paris/O=A/OU=318751275100020/CN=x",
                Code.CSR_SUBJECT_STATE_FORMAT,
                Severity.ERROR,
            ),
            (
                "/C=FR/ST=Paris (75)/O=A/OU=318751275100021/CN=x",
                Code.CSR_IDNAT_CHECK_DIGIT,
                Severity.ERROR,
            ),
            (
                "/C=FR/ST=Paris (75)/O=A/OU=Service informatique/CN=x",
                Code.CSR_OU_IDNAT,
                Severity.ERROR,
            ),
            (
                "/C=FR/ST=Rhône (69)/O=A/OU=10B0152872/CN=x",
                Code.CSR_OU_IDNAT,
                Severity.WARNING,
            ),  # shape ANS has issued: doubtful, not refused
            (
                "/C=FR/ST=Paris (75)/O=A/OU=318751275100020/CN=INSI-AUTOMATIQUE",
                Code.CSR_CN_SERVICE,
                Severity.ERROR,
            ),
            (
                "/C=FR/ST=Paris (75)/L=Paris/O=A/OU=318751275100020/CN=x",
                Code.CSR_SUBJECT_EXTRA,
                Severity.WARNING,
            ),
        ],
    )
    def test_subject_rules(
        self,
        openssl: str,
        test_key_file: Path,
        tmp_path: Path,
        subj: str,
        code: Code,
        severity: Severity,
    ) -> None:
        findings = lint_csr(_openssl_req(openssl, test_key_file, tmp_path, subj))
        assert _codes(findings).get(code) == severity, findings

    @pytest.mark.parametrize(
        ("extra", "profile", "code", "severity"),
        [
            (("-sha1",), None, Code.CSR_SIGNATURE_HASH, Severity.ERROR),
            (("-sha384",), None, Code.CSR_SIGNATURE_HASH, Severity.WARNING),
            (
                ("-addext", "subjectAltName=DNS:hopital.fr"),
                "ORG_AUTH_CLI",
                Code.CSR_SAN_PRESENT,
                Severity.WARNING,
            ),
            (
                ("-addext", "keyUsage=critical,keyEncipherment"),
                "ORG_AUTH_CLI",
                Code.CSR_EXTENSIONS,
                Severity.WARNING,
            ),
            (
                ("-addext", "extendedKeyUsage=serverAuth"),
                "ORG_AUTH_CLI",
                Code.CSR_EXTENSIONS,
                Severity.WARNING,
            ),
            (
                ("-addext", "keyUsage=digitalSignature"),
                "ORG_AUTH_CLI",
                Code.CSR_EXTENSIONS,
                Severity.WARNING,
            ),  # not critical
        ],
    )
    def test_signature_and_extension_rules(
        self,
        openssl: str,
        test_key_file: Path,
        tmp_path: Path,
        extra: tuple[str, ...],
        profile: str | None,
        code: Code,
        severity: Severity,
    ) -> None:
        pem = _openssl_req(openssl, test_key_file, tmp_path, GOOD_SUBJ, *extra)
        findings = lint_csr(pem, profile=profile)
        assert _codes(findings) == {code: severity}, findings

    def test_sha1_is_not_called_a_bad_signature(
        self, openssl: str, test_key_file: Path, tmp_path: Path
    ) -> None:
        pem = _openssl_req(openssl, test_key_file, tmp_path, GOOD_SUBJ, "-sha1")
        assert Code.CSR_SIGNATURE_INVALID not in _codes(lint_csr(pem))

    def test_small_rsa_key(self, openssl: str, tmp_path: Path) -> None:
        key = tmp_path / "test-key-rsa1024.pem"
        subprocess.run(
            [
                openssl,
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:1024",
                "-out",
                str(key),
            ],
            check=True,
            capture_output=True,
        )
        findings = lint_csr(_openssl_req(openssl, key, tmp_path, GOOD_SUBJ))
        assert _codes(findings) == {Code.CSR_KEY_SIZE: Severity.ERROR}

    def test_serv_ssl_san_must_name_the_cn(
        self, openssl: str, test_key_file: Path, tmp_path: Path
    ) -> None:
        subj = "/C=FR/ST=Paris (75)/O=A/OU=318751275100020/CN=mail.hopital.fr"
        pem = _openssl_req(
            openssl, test_key_file, tmp_path, subj, "-addext", "subjectAltName=DNS:other.hopital.fr"
        )
        findings = lint_csr(pem, profile="SERV_SSL")
        assert any(
            f.code is Code.CSR_EXTENSIONS and "mail.hopital.fr" in f.message for f in findings
        )
        assert Code.CSR_SAN_PRESENT not in _codes(findings)


class TestCertmgrRequests:
    """Rules that `openssl req -subj` cannot trigger, on requests built here."""

    def _sign(
        self,
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
        attrs: list[x509.NameAttribute[str]],
    ) -> x509.CertificateSigningRequest:
        builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
        return builder.sign(key, hashes.SHA256())

    def test_ec_key_is_a_warning(self, ec_key: ec.EllipticCurvePrivateKey) -> None:
        spec = SubjectSpec(
            departement="75", organization="A", idnat="318751275100020", common_name="x"
        )
        findings = lint_csr(build_csr(key=ec_key, profile="ORG_AUTH_CLI", subject=spec))
        assert _codes(findings) == {Code.CSR_KEY_TYPE: Severity.WARNING}

    def test_string_types(self, rsa_key: rsa.RSAPrivateKey) -> None:
        csr = self._sign(
            rsa_key,
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Paris (75)"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "A", _type=_ASN1Type.BMPString),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "318751275100020"),
                x509.NameAttribute(NameOID.COMMON_NAME, "x", _type=_ASN1Type.T61String),
            ],
        )
        findings = [f for f in lint_csr(csr) if f.code is Code.CSR_SUBJECT_STRING_TYPE]
        assert sorted(f.message.split()[0] for f in findings) == ["CN", "O"]
        assert all(f.severity is Severity.WARNING for f in findings)

    def test_length_over_the_rfc_5280_bound(self, rsa_key: rsa.RSAPrivateKey) -> None:
        # openssl req itself refuses O > 64 characters; other tools do not
        csr = self._sign(
            rsa_key,
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Paris (75)"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "A" * 65),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "318751275100020"),
                x509.NameAttribute(NameOID.COMMON_NAME, "x"),
            ],
        )
        assert _codes(lint_csr(csr)) == {Code.CSR_SUBJECT_LENGTH: Severity.ERROR}

    def test_tampered_signature(self, rsa_key: rsa.RSAPrivateKey) -> None:
        spec = SubjectSpec(
            departement="75", organization="A", idnat="318751275100020", common_name="x"
        )
        der = bytearray(
            x509.load_pem_x509_csr(
                build_csr(key=rsa_key, profile="ORG_AUTH_CLI", subject=spec)
            ).public_bytes(serialization.Encoding.DER)
        )
        der[-5] ^= 0xFF  # inside the signature BIT STRING
        findings = lint_csr(bytes(der))
        assert _codes(findings) == {Code.CSR_SIGNATURE_INVALID: Severity.ERROR}

    def test_service_table(self, rsa_key: rsa.RSAPrivateKey) -> None:
        spec = SubjectSpec(
            departement="75", organization="A", idnat="318751275100020", common_name="Mon logiciel"
        )
        pem = build_csr(key=rsa_key, profile="ORG_AUTH_CLI", subject=spec)
        assert lint_csr(pem) == ()
        assert _codes(lint_csr(pem, service="INSi")) == {Code.CSR_CN_SERVICE: Severity.ERROR}
        assert lint_csr(pem, service="DMP") == ()  # no CN rule for that service

    def test_not_a_csr(self) -> None:
        with pytest.raises(ParseError, match=r"x\.pem"):
            lint_csr(b"hello", source="x.pem")
        with pytest.raises(InputError, match="unknown CSR profile"):
            lint_csr(b"hello", profile="NOPE")
