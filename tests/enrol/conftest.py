"""Shared fixtures of the enrolment tests: a small pool of TEST keys, generated once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certmgr.pki.keys import KeySpec, PrivateKey, generate_key, plaintext_key


@pytest.fixture(scope="session")
def key_pool() -> dict[str, list[PrivateKey]]:
    """TEST keys by spec: two RSA-2048, one each of 3072/4096 and EC P-256."""
    return {
        "rsa2048": [generate_key(), generate_key()],
        "rsa3072": [generate_key(algorithm=KeySpec.RSA_3072)],
        "rsa4096": [generate_key(algorithm=KeySpec.RSA_4096)],
        "ec-p256": [generate_key(algorithm=KeySpec.EC_P256, allow_ec=True)],
    }


@pytest.fixture(scope="session")
def rsa_key(key_pool: dict[str, list[PrivateKey]]) -> rsa.RSAPrivateKey:
    key = key_pool["rsa2048"][0]
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.fixture(scope="session")
def ec_key(key_pool: dict[str, list[PrivateKey]]) -> ec.EllipticCurvePrivateKey:
    key = key_pool["ec-p256"][0]
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


@pytest.fixture(scope="session")
def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("the openssl binary is not installed")
    return path


@pytest.fixture(scope="session")
def test_key_file(tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey) -> Path:
    """The pool's first RSA-2048 TEST key as a plaintext PEM file, for `openssl req -key`."""
    path = tmp_path_factory.mktemp("keys") / "test-key-rsa2048.pem"
    path.write_bytes(plaintext_key(rsa_key))
    return path
