"""CSR builder: subject validation, string types, extensions, round trip (hypothesis)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certmgr.errors import IdentifierError, InputError
from certmgr.pki.csr import (
    PROFILES,
    SubjectSpec,
    build_csr,
    get_profile,
    is_printable,
    name_entries,
)
from certmgr.pki.csr_lint import lint_csr
from certmgr.pki.departments import DEPARTEMENTS, departement_label, parse_state
from certmgr.pki.keys import PrivateKey, spki_sha256

SIRET = "318751275100020"  # 3 + ASIP Santé's SIRET, as in the TEST leaves


def _luhn_complete(prefix: str) -> str:
    for digit in "0123456789":
        candidate = prefix + digit
        total = 0
        for index, char in enumerate(reversed(candidate)):
            value = int(char) * (2 if index % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def _spec(**changes: str) -> SubjectSpec:
    values = {
        "departement": "75",
        "organization": "ASIP-SANTE",
        "idnat": SIRET,
        "common_name": "bal-applicative@hopital.mssante.fr",
    }
    values.update(changes)
    return SubjectSpec(**values)


def _ku_names(csr: x509.CertificateSigningRequest) -> set[str]:
    ku = csr.extensions.get_extension_for_class(x509.KeyUsage).value
    fields = {
        "digitalSignature": ku.digital_signature,
        "nonRepudiation": ku.content_commitment,
        "keyEncipherment": ku.key_encipherment,
        "dataEncipherment": ku.data_encipherment,
    }
    return {name for name, on in fields.items() if on}


class TestSubjectSpec:
    """Validated when built; normalised values."""

    def test_values_are_normalised(self) -> None:
        spec = _spec(departement="1", organization="  CENTRE   HOSPITALIER  ", common_name=" x ")
        assert spec.departement == "01"
        assert spec.state == "Ain (01)"
        assert spec.organization == "CENTRE HOSPITALIER"
        assert spec.common_name == "x"

    def test_organization_is_cut_to_64(self) -> None:
        spec = _spec(organization="A" * 63 + " BCDEF")
        assert spec.organization == "A" * 63
        assert len(_spec(organization="É" * 80).organization) == 64

    @pytest.mark.parametrize("idnat", ["918751275100020", "3187512751", "31875127510002X", ""])
    def test_bad_idnat_is_an_identifier_error(self, idnat: str) -> None:
        with pytest.raises(IdentifierError):
            _spec(idnat=idnat)

    def test_wrong_check_digit_is_an_identifier_error(self) -> None:
        with pytest.raises(IdentifierError, match="check digit"):
            _spec(idnat="318751275100021")

    @pytest.mark.parametrize("code", ["00", "20", "96", "977", "Paris"])
    def test_unknown_departement_is_an_input_error(self, code: str) -> None:
        with pytest.raises(InputError, match="département"):
            _spec(departement=code)

    @pytest.mark.parametrize("cn", ["", "x" * 65, "a\nb"])
    def test_bad_cn_is_refused(self, cn: str) -> None:
        with pytest.raises(InputError):
            _spec(common_name=cn)


class TestDepartements:
    def test_labels_match_the_real_certificates(self) -> None:
        assert departement_label("75") == "Paris (75)"
        assert departement_label(21) == "Côte-d'Or (21)"
        assert departement_label("2a") == "Corse-du-Sud (2A)"
        assert departement_label("976") == "Mayotte (976)"
        assert len(DEPARTEMENTS) == 96 + 6

    def test_every_label_parses_back(self) -> None:
        for code in DEPARTEMENTS:
            assert parse_state(departement_label(code)) == code
        assert parse_state("Paris") is None
        assert parse_state("Paris (76)") is None
        assert parse_state("Cote-d'Or (21)") is None


class TestStringTypes:
    def test_printable_where_possible_utf8_otherwise(self, rsa_key: rsa.RSAPrivateKey) -> None:
        spec = _spec(departement="21", organization="HOPITAL DES 3 DAMES")
        csr = x509.load_pem_x509_csr(build_csr(key=rsa_key, profile="ORG_AUTH_CLI", subject=spec))
        types = {e.name: (e.value, e.string_type) for e in name_entries(csr.subject)}
        assert types == {
            "C": ("FR", "PrintableString"),
            "ST": ("Côte-d'Or (21)", "UTF8String"),
            "O": ("HOPITAL DES 3 DAMES", "PrintableString"),
            "OU": (SIRET, "PrintableString"),
            "CN": ("bal-applicative@hopital.mssante.fr", "UTF8String"),  # '@' is not printable
        }
        assert [e.name for e in name_entries(csr.subject)] == ["C", "ST", "O", "OU", "CN"]

    def test_real_test_leaf_subject_types(self) -> None:
        leaf = Path(
            "/work/shared/igc-sante/test-leaves/asip-p12-EL-TEST-ORG-SIGN-20181116-141712.pem"
        )
        if not leaf.exists():
            pytest.skip("reference certificates not available")
        cert = x509.load_pem_x509_certificate(leaf.read_bytes())
        entries = name_entries(cert.subject)
        assert [(e.name, e.string_type) for e in entries][:2] == [
            ("C", "PrintableString"),
            ("ST", "UTF8String"),
        ]
        assert parse_state(entries[1].value) == "21"


class TestBuild:
    @pytest.mark.parametrize("profile", sorted(PROFILES))
    def test_each_profile_requests_its_extensions(
        self, rsa_key: rsa.RSAPrivateKey, profile: str
    ) -> None:
        prof = get_profile(profile)
        cn = "mail.hopital.fr" if prof.san_dns_from_cn else "INSI-AUTO"
        pem = build_csr(key=rsa_key, profile=profile, subject=_spec(common_name=cn))
        csr = x509.load_pem_x509_csr(pem)
        assert csr.is_signature_valid
        assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
        ku = csr.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical
        assert _ku_names(csr) == set(prof.key_usage)
        assert lint_csr(pem, profile=profile) == ()
        san = [e for e in csr.extensions if isinstance(e.value, x509.SubjectAlternativeName)]
        if prof.san_dns_from_cn:
            assert san[0].value.get_values_for_type(x509.DNSName) == ["mail.hopital.fr"]
        else:
            assert san == []

    def test_serv_ssl_needs_a_host_name(self, rsa_key: rsa.RSAPrivateKey) -> None:
        with pytest.raises(InputError, match="host name"):
            build_csr(key=rsa_key, profile="SERV_SSL", subject=_spec(common_name="Mon appli"))

    def test_small_rsa_and_unknown_profile_are_refused(self) -> None:
        small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        with pytest.raises(InputError, match="RSA-1024"):
            build_csr(key=small, profile="ORG_AUTH_CLI", subject=_spec())
        with pytest.raises(InputError, match="unknown CSR profile"):
            build_csr(key=small, profile="ORG_FOO", subject=_spec())

    def test_openssl_verifies_it(
        self, rsa_key: rsa.RSAPrivateKey, openssl: str, tmp_path: Path
    ) -> None:
        path = tmp_path / "req.pem"
        path.write_bytes(build_csr(key=rsa_key, profile="ORG_AUTH_CLI", subject=_spec()))
        proc = subprocess.run(
            [openssl, "req", "-in", str(path), "-verify", "-noout", "-nameopt", "utf8", "-subject"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "verify OK" in proc.stdout + proc.stderr
        assert "ST=Paris (75)" in proc.stdout.replace(" = ", "=")


_ORG_CHARS = st.sampled_from(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdeéèêàçôùÉÈ0123456789 '-&()."))
_CN_CHARS = st.sampled_from(list("abcdefghijklmnopqrstuvwxyzéàç0123456789-._@ "))


@st.composite
def _idnats(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["1", "2", "3", "4"]))
    length = {"1": 9, "2": 9, "3": 14, "4": 11}[kind]
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    return kind + _luhn_complete(body)


_SUBJECTS = st.builds(
    SubjectSpec,
    departement=st.sampled_from(sorted(DEPARTEMENTS)),
    organization=st.text(_ORG_CHARS, min_size=1, max_size=90).filter(lambda s: s.strip()),
    idnat=_idnats(),
    common_name=st.text(_CN_CHARS, min_size=1, max_size=64).filter(
        lambda s: s.strip() and not s.strip().upper().startswith("INSI")
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    subject=_SUBJECTS,
    profile=st.sampled_from(["ORG_AUTH_CLI", "ORG_SIGN", "ORG_CONF", "SERV_SMIME"]),
    pick=st.sampled_from([("rsa2048", 0), ("rsa2048", 1), ("rsa3072", 0), ("rsa4096", 0)]),
)
def test_round_trip(
    key_pool: dict[str, list[PrivateKey]],
    subject: SubjectSpec,
    profile: str,
    pick: tuple[str, int],
) -> None:
    """build -> parse gives the same subject (values and types), key and extensions."""
    key = key_pool[pick[0]][pick[1]]
    csr = x509.load_pem_x509_csr(build_csr(key=key, profile=profile, subject=subject))
    entries = name_entries(csr.subject)
    expected = [
        ("C", "FR"),
        ("ST", subject.state),
        ("O", subject.organization),
        ("OU", subject.idnat),
        ("CN", subject.common_name),
    ]
    assert [(e.name, e.value) for e in entries] == expected
    for entry in entries:
        want = "PrintableString" if is_printable(entry.value) else "UTF8String"
        assert entry.string_type == want, entry
    assert spki_sha256(csr.public_key()) == spki_sha256(key.public_key())
    assert csr.is_signature_valid
    assert _ku_names(csr) == set(get_profile(profile).key_usage)
    eku = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert len(list(eku)) == len(get_profile(profile).extended_key_usage)
    assert lint_csr(csr, profile=profile) == ()
