"""Reading certificates, chains, CRLs, keys and CSRs from bytes, whatever the encoding.

`load_bundle` detects the format (PEM with any number of blocks, DER, PKCS#7
in PEM or DER, PKCS#12) and returns a `Bundle` whose items keep their DER.
Every failure raises `ParseError` (or `InputTooLargeError`), or
`PassphraseError` for a missing or wrong passphrase; the message names the
source and what is wrong. No other exception escapes: the loaders of
`cryptography` raise ValueError/TypeError (and sometimes worse on hostile
input), which are wrapped here.

Text outside PEM blocks is allowed (openssl prints the subject and issuer
before the block), but a malformed block is an error, never skipped.

Speed: PEM certificates are base64-decoded here (binascii) and loaded as
DER, which is about ten times faster than `load_pem_x509_certificate`.
`read_input` is the only function that touches the file system.
"""

from __future__ import annotations

import binascii
import enum
import functools
import os
import re
import stat
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmgr.errors import InputTooLargeError, ParseError, PassphraseError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
    from cryptography.hazmat.primitives.serialization.pkcs12 import PKCS12KeyAndCertificates

# The PKCS#7/#12 parsers (asn1crypto's PKCS#12 model: ~25 ms) are imported where used:
# every CLI command that reads a file imports this module, most inputs are certificates.

__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_PKCS12_ROUNDS",
    "Bundle",
    "BundleKind",
    "LoadedCRL",
    "LoadedCSR",
    "LoadedCertificate",
    "LoadedKey",
    "load_bundle",
    "load_certificates",
    "load_crls",
    "load_csr",
    "load_private_key",
    "looks_like_pkcs12",
    "read_input",
]

MAX_INPUT_BYTES = 10 * 1024 * 1024
MAX_PKCS12_ROUNDS = 10_000_000
"""PKCS#12 MAC and PBE iteration counts above this are refused before any derivation
(common tools use 2,048 to 600,000)."""
_T = TypeVar("_T")


class BundleKind(enum.StrEnum):
    """The format `load_bundle` detected."""

    PEM = "pem"
    PKCS7_PEM = "pkcs7-pem"
    DER_CERTIFICATE = "der-certificate"
    DER_CRL = "der-crl"
    DER_CSR = "der-csr"
    DER_KEY = "der-key"
    PKCS7_DER = "pkcs7-der"
    PKCS12 = "pkcs12"


@dataclass(frozen=True, slots=True)
class LoadedCertificate:
    certificate: x509.Certificate
    der: bytes


@dataclass(frozen=True, slots=True)
class LoadedCRL:
    crl: x509.CertificateRevocationList
    der: bytes


@dataclass(frozen=True, slots=True)
class LoadedCSR:
    csr: x509.CertificateSigningRequest
    der: bytes


@dataclass(frozen=True, slots=True)
class LoadedKey:
    """A private key; `der` is the key as found (still encrypted when it was)."""

    key: PrivateKeyTypes
    der: bytes

    def __repr__(self) -> str:  # never print key material
        return f"LoadedKey({type(self.key).__name__})"


@dataclass(frozen=True, slots=True)
class Bundle:
    """Everything found in one input, in input order."""

    source: str
    kind: BundleKind
    certificates: tuple[LoadedCertificate, ...] = ()
    crls: tuple[LoadedCRL, ...] = ()
    keys: tuple[LoadedKey, ...] = ()
    csrs: tuple[LoadedCSR, ...] = ()

    @property
    def x509_certificates(self) -> tuple[x509.Certificate, ...]:
        return tuple(item.certificate for item in self.certificates)


# ---------------------------------------------------------------- files


def read_input(path: Path, *, max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of `path`; ParseError when unreadable, a directory, not a regular file (a
    FIFO would block) or empty, InputTooLargeError above `max_bytes` (judged from the size
    before reading, so a huge file is never read)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; harmless on regular files
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise ParseError("is a directory, not a file", source=path)
            if not stat.S_ISREG(info.st_mode):
                raise ParseError("is not a regular file", source=path)
            if info.st_size > max_bytes:
                raise InputTooLargeError(f"larger than the {max_bytes} bytes accepted",
                                         source=path)
            # read() sized by fstat: a bounded read(max_bytes + 1) would allocate the
            # whole cap per file (10 MiB), which costs more than the read on small files
            data = handle.read()
    except IsADirectoryError:
        raise ParseError("is a directory, not a file", source=path) from None
    except OSError as exc:
        raise ParseError(f"cannot read: {exc.strerror or exc}", source=path) from None
    if len(data) > max_bytes:  # the file grew while we read it
        raise InputTooLargeError(f"larger than the {max_bytes} bytes accepted", source=path)
    if not data:
        raise ParseError("empty file", source=path)
    return data


# ---------------------------------------------------------------- entry points


def load_bundle(data: bytes, *, source: str, passphrase: bytes | None = None) -> Bundle:
    """Detect the format of `data` and load everything it holds."""
    if not data or not data.strip():
        raise ParseError("empty input", source=source)
    if b"-----BEGIN " in data:
        return _load_pem(data, source=source, passphrase=passphrase)
    return _load_der(data, source=source, passphrase=passphrase)


def looks_like_pkcs12(head: bytes) -> bool:
    """True when `head` (the first 16 bytes of an input suffice) starts like a DER
    PKCS#12 PFX: SEQUENCE { INTEGER 3, ... }. Cheap: callers sniff files with it."""
    return _looks_like_pfx(head)


def load_certificates(
    data: bytes, *, source: str, passphrase: bytes | None = None
) -> tuple[LoadedCertificate, ...]:
    """The certificates in `data` (PEM, DER, PKCS#7, PKCS#12); ParseError when there is none."""
    bundle = load_bundle(data, source=source, passphrase=passphrase)
    if not bundle.certificates:
        raise ParseError(f"no certificate found ({bundle.kind} input)", source=source)
    return bundle.certificates


def load_crls(data: bytes, *, source: str) -> tuple[LoadedCRL, ...]:
    """The CRLs in `data` (PEM or DER); ParseError when there is none."""
    bundle = load_bundle(data, source=source)
    if not bundle.crls:
        raise ParseError(f"no CRL found ({bundle.kind} input)", source=source)
    return bundle.crls


def load_private_key(data: bytes, *, source: str, passphrase: bytes | None = None) -> LoadedKey:
    """The one private key in `data` (PKCS#8, PKCS#1, SEC1, PKCS#12)."""
    bundle = load_bundle(data, source=source, passphrase=passphrase)
    if len(bundle.keys) != 1:
        raise ParseError(f"expected one private key, found {len(bundle.keys)}", source=source)
    return bundle.keys[0]


def load_csr(data: bytes, *, source: str) -> LoadedCSR:
    """The one certificate signing request in `data` (PEM or DER)."""
    bundle = load_bundle(data, source=source)
    if len(bundle.csrs) != 1:
        raise ParseError(f"expected one CSR, found {len(bundle.csrs)}", source=source)
    return bundle.csrs[0]


# ---------------------------------------------------------------- PEM

_PEM_LABEL = re.compile(rb"[A-Z0-9 #]{1,64}")
_CERT_LABELS = frozenset({b"CERTIFICATE", b"X509 CERTIFICATE"})
_CRL_LABELS = frozenset({b"X509 CRL", b"CRL"})
_CSR_LABELS = frozenset({b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"})
_KEY_LABELS = frozenset(
    {b"PRIVATE KEY", b"ENCRYPTED PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY"}
)
_IGNORED_LABELS = frozenset({b"EC PARAMETERS"})  # openssl ecparam -genkey prints it first


def _load_pem(data: bytes, *, source: str, passphrase: bytes | None) -> Bundle:
    certs: list[LoadedCertificate] = []
    crls: list[LoadedCRL] = []
    keys: list[LoadedKey] = []
    csrs: list[LoadedCSR] = []
    only_pkcs7 = True
    for number, label, body, block in _pem_blocks(data, source=source):
        where = f"PEM block {number} ({label.decode('ascii')})"
        if label in _IGNORED_LABELS:
            continue
        if label in _KEY_LABELS:
            only_pkcs7 = False
            keys.append(_pem_key(block, body, where=where, source=source, pw=passphrase))
            continue
        der = _b64(body, where=where, source=source)
        if label in _CERT_LABELS:
            only_pkcs7 = False
            certs.append(_der_certificate(der, where=where, source=source))
        elif label in _CRL_LABELS:
            only_pkcs7 = False
            crls.append(_der_crl(der, where=where, source=source))
        elif label in _CSR_LABELS:
            only_pkcs7 = False
            csrs.append(_der_csr(der, where=where, source=source))
        elif label == b"PKCS7":
            certs.extend(_pkcs7(der, where=where, source=source))
        else:
            raise ParseError(f"{where} is of an unsupported type", source=source)
    kind = BundleKind.PKCS7_PEM if only_pkcs7 and certs else BundleKind.PEM
    return Bundle(
        source=source,
        kind=kind,
        certificates=tuple(certs),
        crls=tuple(crls),
        keys=tuple(keys),
        csrs=tuple(csrs),
    )


def _pem_blocks(
    data: bytes, *, source: str
) -> Iterator[tuple[int, bytes, memoryview, memoryview]]:
    """(number, label, body, whole block) for each PEM block; ParseError on a broken one.
    Body and block are views on `data` (no copy: most blocks only go through binascii).

    bytes.find, not a DOTALL regex: a lazy `.*?` over 10,000 blocks costs ~70 µs a block.
    """
    view = memoryview(data)
    position, number = 0, 0
    while (start := data.find(b"-----BEGIN ", position)) >= 0:
        number += 1
        close = data.find(b"-----", start + 11, start + 11 + 65)
        label = data[start + 11 : close] if close >= 0 else b""
        if _PEM_LABEL.fullmatch(label) is None:
            raise ParseError(f"PEM block {number} has a malformed BEGIN line", source=source)
        where = f"PEM block {number} ({label.decode('ascii')})"
        body_start = close + 5
        end = data.find(b"-----END ", body_start)
        if end < 0 or data.find(b"-----BEGIN ", body_start, end) >= 0:
            raise ParseError(f"{where} is truncated (no END line)", source=source)
        end_close = data.find(b"-----", end + 9, end + 9 + 65)
        end_label = data[end + 9 : end_close] if end_close >= 0 else b""
        if end_label != label:
            raise ParseError(f"{where} has no matching END line", source=source)
        position = end_close + 5
        yield number, label, view[body_start:end], view[start:position]


def _b64(body: memoryview, *, where: str, source: str) -> bytes:
    # Strict mode rejects any character outside the alphabet once whitespace is gone.
    try:
        der = binascii.a2b_base64(bytes(body).translate(None, b" \t\r\n"), strict_mode=True)
    except (binascii.Error, ValueError):
        raise ParseError(f"{where} is not valid base64", source=source) from None
    if not der:
        raise ParseError(f"{where} is empty", source=source)
    return der


def _pem_key(
    block: memoryview, body: memoryview, *, where: str, source: str, pw: bytes | None
) -> LoadedKey:
    # Keys go through cryptography's PEM loader: legacy encrypted PKCS#1 blocks carry
    # Proc-Type/DEK-Info headers that only it understands. Keys are few, speed is moot.
    lines = [line for line in bytes(body).splitlines() if b":" not in line]
    try:
        der = binascii.a2b_base64(b"".join(lines))
    except (binascii.Error, ValueError):
        raise ParseError(f"{where} is not valid base64", source=source) from None
    key = _private_key(
        bytes(block), serialization.load_pem_private_key, where=where, source=source, pw=pw
    )
    return LoadedKey(key=key, der=der)


# ---------------------------------------------------------------- DER


def _load_der(data: bytes, *, source: str, passphrase: bytes | None) -> Bundle:
    data = _check_der_envelope(data, source=source)
    first = _first_inner_tag(data)
    if first == 0x02 and _looks_like_pfx(data):
        return _pkcs12(data, source=source, passphrase=passphrase)
    if first == 0x06:
        certs = _pkcs7(data, where="PKCS#7 (DER)", source=source)
        return Bundle(source=source, kind=BundleKind.PKCS7_DER, certificates=certs)
    if first == 0x02 or _tbs_first_tag(data) == 0x06:
        # INTEGER first: PKCS#1/PKCS#8/SEC1 key; SEQUENCE{OID...} first: encrypted PKCS#8.
        key = _private_key(
            data, serialization.load_der_private_key, where="private key (DER)", source=source,
            pw=passphrase,
        )
        return Bundle(source=source, kind=BundleKind.DER_KEY, keys=(LoadedKey(key, data),))
    attempts: tuple[tuple[BundleKind, Callable[[bytes], object]], ...] = (
        (BundleKind.DER_CERTIFICATE, x509.load_der_x509_certificate),
        (BundleKind.DER_CRL, x509.load_der_x509_crl),
        (BundleKind.DER_CSR, x509.load_der_x509_csr),
    )
    for kind, loader in attempts:
        loaded = _attempt(loader, data)
        if isinstance(loaded, x509.Certificate | x509.CertificateRevocationList
                      | x509.CertificateSigningRequest):
            _checked_names(loaded, where=f"{kind} input", source=source)
        if isinstance(loaded, x509.Certificate):
            certs = (LoadedCertificate(loaded, data),)
            return Bundle(source=source, kind=kind, certificates=certs)
        if isinstance(loaded, x509.CertificateRevocationList):
            return Bundle(source=source, kind=kind, crls=(LoadedCRL(loaded, data),))
        if isinstance(loaded, x509.CertificateSigningRequest):
            return Bundle(source=source, kind=kind, csrs=(LoadedCSR(loaded, data),))
    raise ParseError(
        "DER data is not a certificate, CRL, CSR, PKCS#7, PKCS#12 or private key", source=source
    )


def _der_header(data: bytes, offset: int) -> tuple[int, int, int] | None:
    """(tag, header length, content length) of the DER element at `offset`, None if unreadable."""
    if offset + 2 > len(data):
        return None
    tag, first = data[offset], data[offset + 1]
    if first < 0x80:
        return tag, 2, first
    count = first & 0x7F
    if count == 0 or count > 4 or offset + 2 + count > len(data):
        return None
    length = int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
    return tag, 2 + count, length


def _check_der_envelope(data: bytes, *, source: str) -> bytes:
    header = _der_header(data, 0)
    if header is None or header[0] != 0x30:
        if _looks_like_text(data):
            raise ParseError("no PEM block found, and not DER (a text file?)", source=source)
        raise ParseError("not DER: no ASN.1 SEQUENCE at the start", source=source)
    _, head, length = header
    if head + length > len(data):
        raise ParseError(
            f"truncated DER: {head + length} bytes announced, {len(data)} present", source=source
        )
    if head + length < len(data):
        raise ParseError(
            f"trailing data after DER: {len(data) - head - length} extra bytes", source=source
        )
    return data


def _looks_like_text(data: bytes) -> bool:
    head = data[:1024]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(char.isprintable() or char.isspace() for char in text)


def _first_inner_tag(data: bytes) -> int | None:
    outer = _der_header(data, 0)
    return None if outer is None or outer[1] >= len(data) else data[outer[1]]


def _tbs_first_tag(data: bytes) -> int | None:
    outer = _der_header(data, 0)
    if outer is None:
        return None
    inner = _der_header(data, outer[1])
    if inner is None:
        return None
    position = outer[1] + inner[1]
    return data[position] if position < len(data) else None


def _looks_like_pfx(data: bytes) -> bool:
    # PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, macData ... }
    outer = _der_header(data, 0)
    return outer is not None and data[outer[1] : outer[1] + 3] == b"\x02\x01\x03"


# ---------------------------------------------------------------- loaders


def _attempt(loader: Callable[[bytes], _T], data: bytes) -> _T | None:
    try:
        return loader(data)
    except Exception:  # cryptography raises ValueError, or worse on hostile input
        return None


def _names_readable(obj: x509.Certificate | x509.CertificateRevocationList
                    | x509.CertificateSigningRequest) -> str | None:
    """None when the subject/issuer names decode; else which one does not.

    cryptography parses names lazily: a subject holding invalid UTF-8 in a UTF8String
    loads fine and raises ValueError only when it is first read, far from the loader
    (an "internal error" in the CLI). Reading them here keeps the failure a ParseError.
    """
    fields = ("subject",) if isinstance(obj, x509.CertificateSigningRequest) else (
        ("issuer",) if isinstance(obj, x509.CertificateRevocationList) else ("subject", "issuer"))
    for name in fields:
        try:
            getattr(obj, name).rfc4514_string()
        except Exception:  # ValueError on bad encodings; be total on hostile input
            return name
    return None


def _checked_names(obj: x509.Certificate | x509.CertificateRevocationList
                   | x509.CertificateSigningRequest, *, where: str, source: str) -> None:
    bad = _names_readable(obj)
    if bad is not None:
        raise ParseError(f"{where} has an unreadable {bad} name (invalid string encoding)",
                         source=source)


def _der_certificate(der: bytes, *, where: str, source: str) -> LoadedCertificate:
    cert = _attempt(x509.load_der_x509_certificate, der)
    if cert is None:
        raise ParseError(f"{where} is not a valid DER certificate", source=source)
    _checked_names(cert, where=where, source=source)
    return LoadedCertificate(cert, der)


def _der_crl(der: bytes, *, where: str, source: str) -> LoadedCRL:
    crl = _attempt(x509.load_der_x509_crl, der)
    if crl is None:
        raise ParseError(f"{where} is not a valid DER CRL", source=source)
    _checked_names(crl, where=where, source=source)
    return LoadedCRL(crl, der)


def _der_csr(der: bytes, *, where: str, source: str) -> LoadedCSR:
    csr = _attempt(x509.load_der_x509_csr, der)
    if csr is None:
        raise ParseError(f"{where} is not a valid DER CSR", source=source)
    _checked_names(csr, where=where, source=source)
    return LoadedCSR(csr, der)


def _pkcs7(der: bytes, *, where: str, source: str) -> tuple[LoadedCertificate, ...]:
    from cryptography.hazmat.primitives.serialization import pkcs7  # noqa: PLC0415 - lazy

    try:
        with warnings.catch_warnings():
            # ANS's published bundle is BER (unsorted SET): cryptography warns, then reads it.
            warnings.simplefilter("ignore", UserWarning)
            certs = pkcs7.load_der_pkcs7_certificates(der)
    except Exception as exc:  # ValueError for most damage; be total on hostile input
        raise ParseError(f"{where} is not a readable PKCS#7 certificate bundle: {exc}",
                         source=source) from None
    for number, cert in enumerate(certs, start=1):
        _checked_names(cert, where=f"{where} certificate {number}", source=source)
    return tuple(LoadedCertificate(c, c.public_bytes(serialization.Encoding.DER)) for c in certs)


def _private_key(
    data: bytes,
    loader: Callable[[bytes, bytes | None], PrivateKeyTypes],
    *,
    where: str,
    source: str,
    pw: bytes | None,
) -> PrivateKeyTypes:
    try:
        return loader(data, pw)
    except TypeError as exc:
        text = str(exc)
        if "not encrypted" in text:  # a passphrase given for a plain key: fine
            return _private_key(data, loader, where=where, source=source, pw=None)
        if "encrypted" in text:
            raise PassphraseError(f"{where} is encrypted: a passphrase is required",
                                  source=source) from None
        raise ParseError(f"{where} is not a readable private key", source=source) from None
    except ValueError as exc:
        if pw is not None and ("decrypt" in str(exc).lower() or "password" in str(exc).lower()):
            raise PassphraseError(f"{where}: wrong passphrase", source=source) from None
        raise ParseError(f"{where} is not a readable private key", source=source) from None
    except Exception:  # unsupported algorithm, hostile input
        raise ParseError(f"{where} is not a readable private key", source=source) from None


def _pkcs12(data: bytes, *, source: str, passphrase: bytes | None) -> Bundle:
    rounds = _pkcs12_rounds(data)
    if rounds is None:
        raise ParseError("PKCS#12 structure is damaged", source=source)
    if rounds > MAX_PKCS12_ROUNDS:
        raise ParseError(f"PKCS#12 asks for {rounds} key-derivation rounds (more than "
                         f"{MAX_PKCS12_ROUNDS}): refused", source=source)
    # An unprotected PKCS#12 opens with None or b"" (tools differ), whatever was given.
    candidates = list(dict.fromkeys([passphrase, None, b""]))
    loaded = None
    for candidate in candidates:
        loaded = _attempt(functools.partial(_load_p12, password=candidate), data)
        if loaded is not None:
            break
    if loaded is None:  # the structure parsed (above): the passphrase is what fails
        if passphrase is None:
            raise PassphraseError("PKCS#12 is protected: a passphrase is required", source=source)
        raise PassphraseError("PKCS#12 MAC check failed: wrong passphrase", source=source)
    certs: list[LoadedCertificate] = []
    if loaded.cert is not None:
        certs.append(_from_object(loaded.cert.certificate))
    certs.extend(_from_object(item.certificate) for item in loaded.additional_certs)
    for number, item in enumerate(certs, start=1):
        _checked_names(item.certificate, where=f"PKCS#12 certificate {number}", source=source)
    keys: tuple[LoadedKey, ...] = ()
    if loaded.key is not None:
        der = loaded.key.private_bytes(serialization.Encoding.DER,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
        keys = (LoadedKey(loaded.key, der),)
    return Bundle(source=source, kind=BundleKind.PKCS12, certificates=tuple(certs), keys=keys)


def _load_p12(data: bytes, *, password: bytes | None) -> PKCS12KeyAndCertificates:
    from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: PLC0415 - lazy

    return pkcs12.load_pkcs12(data, password)


def _from_object(cert: x509.Certificate) -> LoadedCertificate:
    return LoadedCertificate(cert, cert.public_bytes(serialization.Encoding.DER))


def _pkcs12_rounds(data: bytes) -> int | None:
    """The highest key-derivation iteration count a PKCS#12 shows before any password is
    tried (MAC, encrypted containers, shrouded key bags of plain ones); None when its
    structure does not parse. OpenSSL derives as many rounds as the file says (2**31:
    minutes per password tried); bags inside an encrypted container only show theirs
    once it is decrypted (a bounded cost: the container's own count is checked here)."""
    from asn1crypto import pkcs12 as asn1_pkcs12  # noqa: PLC0415 - lazy, see the imports

    def bags(contents: asn1_pkcs12.SafeContents, depth: int) -> Iterator[int]:
        for bag in contents:
            kind = bag["bag_id"].native
            if kind == "pkcs8_shrouded_key_bag":
                yield bag["bag_value"]["encryption_algorithm"].kdf_iterations
            elif kind == "safe_contents" and depth < 4:
                yield from bags(bag["bag_value"], depth + 1)

    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        counts = [0]
        if pfx["mac_data"].native is not None:
            counts.append(pfx["mac_data"]["iterations"].native)
        for info in pfx.authenticated_safe:
            kind = info["content_type"].native
            if kind == "data":
                contents = asn1_pkcs12.SafeContents.load(info["content"].native)
                counts.extend(bags(contents, 0))
            elif kind == "encrypted_data":
                algorithm = info["content"]["encrypted_content_info"][
                    "content_encryption_algorithm"]
                counts.append(algorithm.kdf_iterations)
        return max(int(c) for c in counts)
    except Exception:  # asn1crypto raises ValueError, TypeError, KeyError...
        return None
