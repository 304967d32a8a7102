"""Signature checks over the signed part as it is in the DER (certificates and CRLs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hashes

__all__ = ["verify_signature"]


def _verify_raw(key: Any, signature: bytes, data: bytes, hash_alg: hashes.HashAlgorithm | None,
                params: Any) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pad = params if isinstance(params, padding.PSS | padding.PKCS1v15) else (
                padding.PKCS1v15())
            assert hash_alg is not None
            key.verify(signature, data, pad, hash_alg)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            assert hash_alg is not None
            key.verify(signature, data, ec.ECDSA(hash_alg))
        elif isinstance(key, dsa.DSAPublicKey):
            assert hash_alg is not None
            key.verify(signature, data, hash_alg)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, AssertionError):
        return False
    return True


def verify_signature(key: Any, obj: x509.Certificate | x509.CertificateRevocationList, *,
                     tbs: bytes | None = None) -> bool:
    """Whether `key` signed the certificate or CRL `obj` (RSA v1.5/PSS, ECDSA, DSA, EdDSA).

    `tbs` is the signed part as it appears in `obj`'s DER, when the caller has it: otherwise
    cryptography re-encodes it on each call (about 5 µs for a certificate, 70 ms for a
    100,000-entry CRL).
    """
    try:
        hash_alg = obj.signature_hash_algorithm
        params = obj.signature_algorithm_parameters
    except Exception:  # an unsupported algorithm is a signature we cannot accept
        return False
    if tbs is None:
        tbs = obj.tbs_certificate_bytes if isinstance(obj, x509.Certificate) else (
            obj.tbs_certlist_bytes)
    return _verify_raw(key, obj.signature, tbs, hash_alg, params)

