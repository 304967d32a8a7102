"""Private keys: generation, passphrase encryption, loading, SPKI fingerprint. Pure.

IGC Santé issues RSA-2048 certificates; certmgr generates RSA 2048 (default),
3072 or 4096. EC P-256 exists only behind `allow_ec=True`: ANS is not known to
accept it, so the CLI warns before using it.

Encrypted key files are PEM PKCS#8 `EncryptedPrivateKeyInfo` with PBES2:
PBKDF2-HMAC-SHA256 (600,000 rounds, OWASP 2023) and AES-256-CBC. cryptography's
`BestAvailableEncryption` produces the same scheme but with only 2,048 PBKDF2
rounds, and its `encryption_builder().kdf_rounds()` is refused for PKCS#8, so
the structure is assembled here with asn1crypto. `openssl pkey` 3.0 reads it.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import os
from typing import TYPE_CHECKING, TypeAlias

from asn1crypto import algos as asn1_algos
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from certmgr.errors import InputError, ParseError, PassphraseError

__all__ = [
    "DEFAULT_KDF_ROUNDS",
    "KeySpec",
    "PrivateKey",
    "PublicKey",
    "encrypt_key",
    "generate_key",
    "load_key",
    "plaintext_key",
    "spki_sha256",
]

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

DEFAULT_KDF_ROUNDS = 600_000
_MIN_KDF_ROUNDS = 1_000
_SALT_BYTES = 16


class KeySpec(enum.StrEnum):
    """The key algorithms certmgr generates. RSA_2048 is what IGC Santé issues."""

    RSA_2048 = "rsa2048"
    RSA_3072 = "rsa3072"
    RSA_4096 = "rsa4096"
    EC_P256 = "ec-p256"

    @classmethod
    def parse(cls, text: str) -> KeySpec:
        """`rsa2048`, `RSA-2048`, `rsa:2048`, `ec-p256`, `p256`... -> KeySpec; else InputError."""
        norm = text.strip().lower().replace("-", "").replace(":", "").replace("_", "")
        aliases = {
            "rsa": cls.RSA_2048,
            "ec": cls.EC_P256,
            "p256": cls.EC_P256,
            "ecp256": cls.EC_P256,
            "prime256v1": cls.EC_P256,
            "secp256r1": cls.EC_P256,
        }
        for spec in cls:
            if norm == spec.value.replace("-", ""):
                return spec
        if norm in aliases:
            return aliases[norm]
        choices = ", ".join(s.value for s in cls)
        raise InputError(f"unsupported key algorithm {text!r} (choose one of: {choices})")

    @property
    def is_ec(self) -> bool:
        return self is KeySpec.EC_P256

    @property
    def rsa_bits(self) -> int | None:
        return None if self.is_ec else int(self.value.removeprefix("rsa"))


def generate_key(
    *, algorithm: KeySpec | str = KeySpec.RSA_2048, allow_ec: bool = False
) -> PrivateKey:
    """A fresh private key. EC needs `allow_ec=True`; any other algorithm is an InputError."""
    spec = algorithm if isinstance(algorithm, KeySpec) else KeySpec.parse(algorithm)
    if spec.is_ec:
        if not allow_ec:
            raise InputError(
                "EC P-256 needs allow_ec=True: IGC Santé is not known to accept EC keys"
            )
        return ec.generate_private_key(ec.SECP256R1())
    bits = spec.rsa_bits
    assert bits is not None
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def encrypt_key(
    key: PrivateKey, *, passphrase: bytes, kdf_rounds: int = DEFAULT_KDF_ROUNDS
) -> bytes:
    """PEM `ENCRYPTED PRIVATE KEY`: PKCS#8, PBES2 PBKDF2-HMAC-SHA256 + AES-256-CBC.

    `kdf_rounds` below 1,000 is refused (it would give a false sense of protection).
    """
    if not passphrase:
        raise PassphraseError("an empty passphrase cannot protect a private key")
    if kdf_rounds < _MIN_KDF_ROUNDS:
        raise InputError(f"kdf_rounds must be at least {_MIN_KDF_ROUNDS}")
    plain_der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt = os.urandom(_SALT_BYTES)
    iv = os.urandom(16)
    derived = PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=32, salt=salt, iterations=kdf_rounds
    ).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain_der) + padder.finalize()
    encryptor = Cipher(algorithms.AES256(derived), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    algorithm = asn1_algos.EncryptionAlgorithm(
        {
            "algorithm": "pbes2",
            "parameters": {
                "key_derivation_func": {
                    "algorithm": "pbkdf2",
                    "parameters": {
                        "salt": asn1_algos.Pbkdf2Salt(name="specified", value=salt),
                        "iteration_count": kdf_rounds,
                        "prf": {"algorithm": "sha256", "parameters": None},
                    },
                },
                "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
            },
        }
    )
    info = asn1_keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": algorithm,
            "encrypted_data": ciphertext,
        }
    )
    return _pem(info.dump(), "ENCRYPTED PRIVATE KEY")


def plaintext_key(key: PrivateKey) -> bytes:
    """PEM PKCS#8 without encryption. Only behind `--insecure-plaintext-key`."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_key(pem: bytes, *, passphrase: bytes | None, source: str = "<key>") -> PrivateKey:
    """Load a PEM private key (encrypted or not).

    Raises PassphraseError when the key is encrypted and the passphrase is missing
    or wrong, ParseError when the data is not a private key, InputError for a key
    type certmgr does not use.
    """
    encrypted = b"ENCRYPTED" in pem
    if encrypted and not passphrase:
        raise PassphraseError("the private key is encrypted: a passphrase is needed", source=source)
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase if encrypted else None)
    except ValueError as exc:
        if encrypted:
            # cryptography says "Bad decrypt. Incorrect password?" for a wrong passphrase;
            # it is never echoed because the message carries no secret, but keep ours fixed.
            raise PassphraseError("wrong passphrase, or damaged key file", source=source) from None
        raise ParseError(f"not a readable PEM private key ({exc})", source=source) from None
    except TypeError as exc:
        raise ParseError(f"not a readable PEM private key ({exc})", source=source) from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise InputError(f"unsupported private key type {type(key).__name__}", source=source)
    return key


def spki_sha256(public_key: PublicKeyTypes) -> str:
    """Lowercase hex SHA-256 of the SubjectPublicKeyInfo DER (same as CertFacts.spki_sha256)."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _pem(der: bytes, label: str) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"\n".join(
        [f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode(), b""]
    )
