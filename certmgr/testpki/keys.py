"""The committed fixture keys: `keys/<name>.TEST-KEY.pem`, unencrypted PKCS#8.

Keys are reused on every build so that regeneration is fast (no RSA-4096
generation) and, RSA PKCS#1 v1.5 signatures being deterministic, byte-stable.
Only a missing key is generated, and written next to the others.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from certmgr.errors import PKIError

__all__ = ["KEY_SUFFIX", "default_keys_dir", "key_path", "load_key", "load_or_create_keys"]

KEY_SUFFIX = ".TEST-KEY.pem"


def default_keys_dir() -> Path:
    """The `keys/` folder shipped inside the `certmgr.testpki` package."""
    return Path(str(resources.files("certmgr.testpki").joinpath("keys")))


def key_path(name: str, *, keys_dir: Path | None = None) -> Path:
    return (keys_dir or default_keys_dir()) / f"{name}{KEY_SUFFIX}"


def load_key(name: str, *, keys_dir: Path | None = None) -> rsa.RSAPrivateKey:
    """The fixture private key of entry `name`. Raises PKIError if absent or not RSA."""
    path = key_path(name, keys_dir=keys_dir)
    try:
        # The keys are our own, written by this module: the RSA consistency check
        # (~0.15 s per RSA-4096 key) would make every build take seconds.
        key = serialization.load_pem_private_key(
            path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (OSError, ValueError) as exc:
        raise PKIError(f"{path}: cannot load fixture key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PKIError(f"{path}: fixture key is not RSA")
    return key


def load_or_create_keys(
    sizes: dict[str, int], *, keys_dir: Path | None = None
) -> dict[str, rsa.RSAPrivateKey]:
    """Load every key named in `sizes`, generating (and saving) those missing.

    A present key whose size differs from the manifest is an error: silently
    using it would make the fixture lie about its key size.
    """
    folder = keys_dir or default_keys_dir()
    keys: dict[str, rsa.RSAPrivateKey] = {}
    for name, size in sizes.items():
        path = key_path(name, keys_dir=folder)
        if path.exists():
            key = load_key(name, keys_dir=folder)
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=size)
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        if key.key_size != size:
            raise PKIError(f"{path}: key is RSA-{key.key_size}, the manifest says RSA-{size}")
        keys[name] = key
    return keys
