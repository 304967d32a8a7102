"""Key generation, PKCS#8 encryption that openssl can read, loading, SPKI fingerprint."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certmgr.errors import InputError, ParseError, PassphraseError
from certmgr.pki.keys import (
    DEFAULT_KDF_ROUNDS,
    KeySpec,
    encrypt_key,
    generate_key,
    load_key,
    plaintext_key,
    spki_sha256,
)

FAST_ROUNDS = 1_000  # the default (600,000) is checked once below; others stay fast


class TestGenerate:
    """RSA by default, EC only on request, anything else refused."""

    def test_default_is_rsa_2048(self, rsa_key: rsa.RSAPrivateKey) -> None:
        assert rsa_key.key_size == 2048
        assert rsa_key.public_key().public_numbers().e == 65537

    @pytest.mark.parametrize(
        ("text", "spec"),
        [
            ("rsa2048", KeySpec.RSA_2048),
            ("RSA-3072", KeySpec.RSA_3072),
            ("rsa:4096", KeySpec.RSA_4096),
            ("p256", KeySpec.EC_P256),
        ],
    )
    def test_parse(self, text: str, spec: KeySpec) -> None:
        assert KeySpec.parse(text) is spec

    @pytest.mark.parametrize("text", ["rsa1024", "ed25519", "dsa", "rsa8192", ""])
    def test_unsupported_algorithms_are_input_errors(self, text: str) -> None:
        with pytest.raises(InputError, match="unsupported key algorithm"):
            generate_key(algorithm=text)

    def test_ec_needs_explicit_opt_in(self) -> None:
        with pytest.raises(InputError, match="allow_ec"):
            generate_key(algorithm=KeySpec.EC_P256)
        key = generate_key(algorithm="ec-p256", allow_ec=True)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == "secp256r1"


class TestEncryption:
    """Encrypted PEM PKCS#8: only the passphrase opens it; openssl reads it."""

    def test_round_trip_needs_the_passphrase(self, rsa_key: rsa.RSAPrivateKey) -> None:
        pem = encrypt_key(rsa_key, passphrase=b"correct horse", kdf_rounds=FAST_ROUNDS)
        assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
        loaded = load_key(pem, passphrase=b"correct horse")
        assert spki_sha256(loaded.public_key()) == spki_sha256(rsa_key.public_key())
        with pytest.raises(PassphraseError, match="wrong passphrase") as info:
            load_key(pem, passphrase=b"correct horsf")
        assert "horsf" not in str(info.value)
        with pytest.raises(PassphraseError, match="passphrase is needed"):
            load_key(pem, passphrase=None)

    def test_empty_passphrase_is_refused(self, rsa_key: rsa.RSAPrivateKey) -> None:
        with pytest.raises(PassphraseError):
            encrypt_key(rsa_key, passphrase=b"")
        with pytest.raises(InputError, match="kdf_rounds"):
            encrypt_key(rsa_key, passphrase=b"x", kdf_rounds=10)

    def test_openssl_reads_the_default_scheme(
        self, rsa_key: rsa.RSAPrivateKey, openssl: str, tmp_path: Path
    ) -> None:
        path = tmp_path / "key.pem"
        path.write_bytes(encrypt_key(rsa_key, passphrase=b"s3cret phrase"))
        parsed = subprocess.run(
            [openssl, "asn1parse", "-in", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert ":PBES2" in parsed
        assert ":PBKDF2" in parsed
        assert ":hmacWithSHA256" in parsed
        assert ":aes-256-cbc" in parsed
        assert f"INTEGER:{DEFAULT_KDF_ROUNDS:06X}" in parsed.replace(" ", "")  # :0927C0
        (tmp_path / "pass").write_text("s3cret phrase\n")
        out = subprocess.run(
            [
                openssl,
                "pkey",
                "-in",
                str(path),
                "-passin",
                f"file:{tmp_path / 'pass'}",
                "-pubout",
                "-outform",
                "DER",
            ],
            capture_output=True,
            check=True,
        ).stdout
        assert hashlib.sha256(out).hexdigest() == spki_sha256(rsa_key.public_key())
        wrong = subprocess.run(
            [openssl, "pkey", "-in", str(path), "-passin", "pass:wrong", "-noout"],
            capture_output=True,
            check=False,
        )
        assert wrong.returncode != 0

    def test_ec_keys_encrypt_too(self, ec_key: ec.EllipticCurvePrivateKey) -> None:
        pem = encrypt_key(ec_key, passphrase=b"pw", kdf_rounds=FAST_ROUNDS)
        assert isinstance(load_key(pem, passphrase=b"pw"), ec.EllipticCurvePrivateKey)


class TestLoad:
    def test_plaintext_key_loads_without_passphrase(self, rsa_key: rsa.RSAPrivateKey) -> None:
        pem = plaintext_key(rsa_key)
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
        assert isinstance(load_key(pem, passphrase=None), rsa.RSAPrivateKey)

    def test_garbage_is_a_parse_error(self) -> None:
        with pytest.raises(ParseError, match=r"k\.pem"):
            load_key(
                b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                passphrase=None,
                source="k.pem",
            )
