"""Build the test PKI of a manifest at an instant `at`, and write it to a folder.

`render_pki` is pure (manifest, keys, instant in; file contents and index out);
`build_pki` adds the file writes. Structure is deterministic: names, subjects,
serials (derived from the entry name) and validity windows depend only on the
manifest and `at`; with the same keys the bytes are the same too, except the
PKCS#12 salt (an unchanged PKCS#12 is therefore kept as is).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certmgr.clock import ensure_utc
from certmgr.errors import PKIError
from certmgr.testpki import profiles
from certmgr.testpki.index import Artifact, PkiIndex
from certmgr.testpki.keys import load_or_create_keys
from certmgr.testpki.manifest import Manifest, load_manifest

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric import rsa

    from certmgr.testpki.manifest import BundleSpec, CaSpec, CrlSpec, LeafSpec

__all__ = ["FIXED_AT", "build_pki", "render_pki", "serial_for"]

FIXED_AT = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
_OUTPUT_DIRS = ("ca", "leaves", "crl", "bundles")
_OUTPUT_SUFFIXES = frozenset({".pem", ".der", ".crl", ".p7b", ".p12"})


def serial_for(name: str) -> int:
    """The serial number of entry `name`: 127 bits of SHA-256, positive and non-zero."""
    digest = hashlib.sha256(f"certmgr-testpki/{name}".encode()).digest()
    return (int.from_bytes(digest[:16], "big") >> 1) | (1 << 120)


@dataclass(frozen=True, slots=True)
class Rendered:
    """Everything a build produces: file contents by relative path, and the index."""

    files: dict[str, bytes]
    artifacts: tuple[Artifact, ...]
    at: dt.datetime


def build_pki(
    *,
    out_dir: Path,
    at: dt.datetime,
    manifest: Manifest | None = None,
    keys_dir: Path | None = None,
) -> PkiIndex:
    """Build the test PKI at instant `at` (second precision) into `out_dir`.

    Writes ca/, leaves/, crl/, bundles/ and index.json; removes files of those
    folders that this build did not produce (a renamed entry leaves nothing stale).
    Missing fixture keys are generated into `keys_dir` (default: the package's).
    Raises PKIError when `at` would put a certificate outside its issuer's validity.
    """
    rendered = render_pki(at=at, manifest=manifest, keys_dir=keys_dir)
    p12_passwords = {a.paths["p12"]: a.password for a in rendered.artifacts
                     if "p12" in a.paths and a.password is not None}
    for rel, data in rendered.files.items():
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        password = p12_passwords.get(rel)
        if password is not None and target.exists() and _same_p12(
            target.read_bytes(), data, password.encode()
        ):
            continue  # same content under a new random salt: keep the old bytes
        target.write_bytes(data)
    for folder in _OUTPUT_DIRS:
        for path in (out_dir / folder).glob("*"):
            if path.suffix in _OUTPUT_SUFFIXES and f"{folder}/{path.name}" not in rendered.files:
                path.unlink()
    index = PkiIndex(out_dir=out_dir, at=rendered.at, artifacts=rendered.artifacts)
    index.write()
    return index


def render_pki(
    *, at: dt.datetime, manifest: Manifest | None = None, keys_dir: Path | None = None
) -> Rendered:
    """Compute every artifact without writing anything (except missing keys)."""
    at = ensure_utc(at).replace(microsecond=0)
    m = manifest if manifest is not None else load_manifest()
    keys = load_or_create_keys(m.key_sizes(), keys_dir=keys_dir)
    state = _State(m, keys, at)
    for ca in m.cas:
        state.add_ca(ca)
    for leaf in m.leaves:
        state.add_leaf(leaf)
    for crl in m.crls:
        state.add_crl(crl)
    for bundle in m.bundles:
        state.add_bundle(bundle)
    return Rendered(files=state.files, artifacts=tuple(state.artifacts), at=at)


class _State:
    """The build in progress: certificates so far, files and index entries."""

    def __init__(self, m: Manifest, keys: dict[str, rsa.RSAPrivateKey], at: dt.datetime) -> None:
        self.m, self.keys, self.at = m, keys, at
        self.certs: dict[str, x509.Certificate] = {}
        self.crl_numbers: dict[str, int] = {}
        self.files: dict[str, bytes] = {}
        self.artifacts: list[Artifact] = []

    def add_ca(self, ca: CaSpec) -> None:
        nb, na = ca.not_before.resolve(self.at), ca.not_after.resolve(self.at)
        subject = x509.Name.from_rfc4514_string(ca.subject)
        issuer_subject = subject if ca.is_root else self.certs[ca.issuer].subject
        if not ca.is_root:
            self._check_window(ca.name, ca.issuer, nb, na)
        exts = profiles.ca_extensions(
            public_key=self.keys[ca.name].public_key(),
            issuer_public_key=self.keys[ca.issuer].public_key(),
            issuer_name=ca.issuer, issuer_subject=issuer_subject, is_root=ca.is_root,
            path_length=ca.path_length, key_usage=ca.key_usage, urls=self.m.urls,
        )
        cert = self._issue(ca.name, subject, issuer_subject, not_before=nb, not_after=na,
                           exts=exts, signer=ca.signing_key or ca.issuer, hash_name="sha256")
        self.certs[ca.name] = cert
        der = cert.public_bytes(serialization.Encoding.DER)
        paths = {"pem": f"ca/{ca.name}.pem", "der": f"ca/{ca.name}.der"}
        self.files[paths["pem"]] = cert.public_bytes(serialization.Encoding.PEM)
        self.files[paths["der"]] = der
        self.artifacts.append(_cert_artifact(
            ca.name, "ca", scenario=ca.scenario, paths=paths, cert=cert, der=der, issuer=ca.issuer,
            description=ca.description, trusted=ca.trusted, profile=None))

    def add_leaf(self, leaf: LeafSpec) -> None:
        nb, na = _leaf_window(leaf, self.at)
        self._check_window(leaf.name, leaf.issuer, nb, na)
        subject = x509.Name.from_rfc4514_string(leaf.subject)
        issuer_subject = self.certs[leaf.issuer].subject
        exts = profiles.leaf_extensions(
            profile=leaf.profile, public_key=self.keys[leaf.name].public_key(),
            issuer_public_key=self.keys[leaf.issuer].public_key(), issuer_name=leaf.issuer,
            issuer_subject=issuer_subject, subject=subject, policy=self.m.policies[leaf.profile],
            not_before=nb, not_after=na, urls=self.m.urls,
        )
        if leaf.unknown_critical:
            exts.append(profiles.unknown_critical_extension())
        cert = self._issue(leaf.name, subject, issuer_subject, not_before=nb, not_after=na,
                           exts=exts, signer=leaf.signing_key or leaf.issuer, hash_name=leaf.hash)
        der = cert.public_bytes(serialization.Encoding.DER)
        if leaf.tamper == "flip-signature":
            # The signature BIT STRING ends the DER: inverting its last bytes keeps the
            # certificate parseable but makes the signature wrong.
            der = der[:-8] + bytes(b ^ 0xFF for b in der[-8:])
            cert = x509.load_der_x509_certificate(der)
        elif leaf.tamper is not None:
            raise PKIError(f"leaf {leaf.name}: unknown tamper {leaf.tamper!r}")
        self.certs[leaf.name] = cert
        paths = {"pem": f"leaves/{leaf.name}.pem"}
        self.files[paths["pem"]] = cert.public_bytes(serialization.Encoding.PEM)
        if leaf.der:
            paths["der"] = f"leaves/{leaf.name}.der"
            self.files[paths["der"]] = der
        self.artifacts.append(_cert_artifact(
            leaf.name, "leaf", scenario=leaf.scenario, paths=paths, cert=cert, der=der,
            issuer=leaf.issuer,
            description=leaf.description, trusted=False, profile=leaf.profile))

    def add_crl(self, crl: CrlSpec) -> None:
        issuer = self.certs[crl.issuer]
        revoked = [
            x509.RevokedCertificateBuilder()
            .serial_number(serial_for(r.cert))
            .revocation_date(r.date.resolve(self.at))
            .add_extension(x509.CRLReason(x509.ReasonFlags[r.reason]), critical=False)
            .build()
            for r in crl.revoked
        ]
        # Entries go to the constructor in one list: add_revoked_certificate copies the
        # list on every call (quadratic on large CRLs).
        builder = x509.CertificateRevocationListBuilder(
            issuer_name=issuer.subject,
            last_update=crl.this_update.resolve(self.at),
            next_update=crl.next_update.resolve(self.at),
            revoked_certificates=revoked,
        )
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.keys[crl.issuer].public_key()), critical=False,
        ).add_extension(x509.CRLNumber(crl.number), critical=False)
        if crl.delta_of is not None:
            base = x509.DeltaCRLIndicator(self.crl_numbers[crl.delta_of])
            builder = builder.add_extension(base, critical=True)
        if crl.unknown_critical:
            value, critical = profiles.unknown_critical_extension()
            builder = builder.add_extension(value, critical=critical)
        signed = builder.sign(self.keys[crl.signing_key or crl.issuer], hashes.SHA256())
        self.crl_numbers[crl.name] = crl.number
        der = signed.public_bytes(serialization.Encoding.DER)
        paths = {"der": f"crl/{crl.file}.crl"}
        self.files[paths["der"]] = der
        if crl.pem:
            paths["pem"] = f"crl/{crl.file}.pem"
            self.files[paths["pem"]] = signed.public_bytes(serialization.Encoding.PEM)
        self.artifacts.append(Artifact(
            name=crl.name, kind="crl", scenario=crl.scenario, paths=paths,
            description=crl.description, issuer=crl.issuer,
            issuer_dn=signed.issuer.rfc4514_string(),
            sha256=hashlib.sha256(der).hexdigest().upper(),
            this_update=signed.last_update_utc, next_update=signed.next_update_utc,
            crl_number=crl.number, revoked=tuple(r.serial_number for r in revoked),
        ))

    def add_bundle(self, bundle: BundleSpec) -> None:
        certs = [self.certs[name] for name in bundle.certs]
        rel = f"bundles/{bundle.file}"
        if bundle.format == "p12":
            assert bundle.password is not None  # checked by load_manifest
            data = pkcs12.serialize_key_and_certificates(
                name=bundle.certs[0].encode(), key=self.keys[bundle.certs[0]], cert=certs[0],
                cas=certs[1:],
                encryption_algorithm=serialization.BestAvailableEncryption(
                    bundle.password.encode()),
            )
            fmt = "p12"
        else:
            encoding = (serialization.Encoding.PEM if bundle.format == "p7b-pem"
                        else serialization.Encoding.DER)
            data = pkcs7.serialize_certificates(certs, encoding)
            fmt = "p7b"
        self.files[rel] = data
        self.artifacts.append(Artifact(
            name=bundle.name, kind="bundle", scenario=bundle.scenario, paths={fmt: rel},
            description=bundle.description, contents=bundle.certs, password=bundle.password,
            sha256=hashlib.sha256(data).hexdigest().upper() if fmt == "p7b" else None,
        ))

    def _issue(
        self,
        name: str,
        subject: x509.Name,
        issuer: x509.Name,
        *,
        not_before: dt.datetime,
        not_after: dt.datetime,
        exts: list[profiles.Ext],
        signer: str,
        hash_name: str,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer)
            .public_key(self.keys[name].public_key())
            .serial_number(serial_for(name))
            .not_valid_before(not_before).not_valid_after(not_after)
        )
        for value, critical in exts:
            builder = builder.add_extension(value, critical=critical)
        cert = builder.sign(self.keys[signer], hashes.SHA256())
        if hash_name == "sha256":
            return cert
        if hash_name == "sha1":
            return _resign_sha1(cert, self.keys[signer])
        raise PKIError(f"{name}: unsupported hash {hash_name!r}")

    def _check_window(self, name: str, issuer: str, nb: dt.datetime, na: dt.datetime) -> None:
        parent = self.certs[issuer]
        if nb < parent.not_valid_before_utc or na > parent.not_valid_after_utc:
            raise PKIError(
                f"{name}: validity {nb:%Y-%m-%d} .. {na:%Y-%m-%d} at {self.at.isoformat()} "
                f"falls outside its issuer {issuer}'s; choose another instant"
            )


def _leaf_window(leaf: LeafSpec, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Explicit bounds, the missing one three years away (the IGC Santé leaf lifetime)."""
    nb = leaf.not_before.resolve(at) if leaf.not_before else None
    na = leaf.not_after.resolve(at) if leaf.not_after else None
    if nb is not None and na is not None:
        return nb, na
    if nb is not None:
        return nb, _add_years(nb, 3)
    if na is not None:
        return _add_years(na, -3), na
    raise PKIError(f"leaf {leaf.name}: needs not_before or not_after")


def _add_years(when: dt.datetime, years: int) -> dt.datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


def _resign_sha1(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> x509.Certificate:
    """Re-sign with sha1WithRSAEncryption, which cryptography refuses to produce.

    The legacy GIP-CPS certificates are SHA-1: the fixture must be too. asn1crypto
    swaps the algorithm identifiers; the key signs the new TBS with SHA-1 directly.
    """
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    algorithm = asn1_x509.SignedDigestAlgorithm({"algorithm": "sha1_rsa"})
    tbs = parsed["tbs_certificate"].copy()
    tbs["signature"] = algorithm
    tbs_der = tbs.dump(force=True)
    signature = key.sign(tbs_der, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - on purpose
    out = asn1_x509.Certificate({
        "tbs_certificate": asn1_x509.TbsCertificate.load(tbs_der),
        "signature_algorithm": algorithm,
        "signature_value": signature,
    })
    return x509.load_der_x509_certificate(out.dump())


def _cert_artifact(
    name: str,
    kind: str,
    *,
    scenario: str,
    paths: dict[str, str],
    cert: x509.Certificate,
    der: bytes,
    issuer: str,
    description: str,
    trusted: bool,
    profile: str | None,
) -> Artifact:
    assert kind in ("ca", "leaf")
    return Artifact(
        name=name, kind="ca" if kind == "ca" else "leaf", scenario=scenario, paths=paths,
        description=description, issuer=issuer, issuer_dn=cert.issuer.rfc4514_string(),
        subject_dn=cert.subject.rfc4514_string(), serial=cert.serial_number,
        sha256=hashlib.sha256(der).hexdigest().upper(), not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc, profile=profile, trusted=trusted,
    )


def _same_p12(old: bytes, new: bytes, password: bytes) -> bool:
    """Whether two PKCS#12 files hold the same key and certificates."""
    try:
        a, b = pkcs12.load_pkcs12(old, password), pkcs12.load_pkcs12(new, password)
    except ValueError:  # the old file is not a PKCS#12 or has another password
        return False
    if a.key is None or b.key is None or a.cert is None or b.cert is None:
        return False
    return (a.key.public_key() == b.key.public_key()
            and a.cert.certificate == b.cert.certificate
            and [c.certificate for c in a.additional_certs]
            == [c.certificate for c in b.additional_certs])
