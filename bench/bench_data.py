"""The benchmark's own PKI: an IGC Santé-like two-level CA, many leaves, two CRL sizes.

`ensure_data(out, leaves=, crl_sizes=)` writes (or reuses, when the parameters match) under
`out/`: `root.pem` and `inter.pem` (RSA-4096, DNs and extensions shaped like the ANS
"IGC-SANTE ELEMENTAIRE" root and its ORGANISATIONS CA), `arl.pem` (the root's empty ARL, needed
in hard-fail mode for the intermediate), `leaves/leafNNNNN.pem` (RSA-2048, no SAN, clientAuth,
like MSSanté applicative mailbox certificates) and `crl-N.pem` for each size. Every tenth leaf of
the first hundred is listed in each CRL, so the revoked path is exercised too.

Leaf keys come from a small pool: key generation is not what is measured, signing and
verifying are. Leaf signing (RSA-4096, ~8 ms each) runs on all cores.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["AT", "BenchData", "ensure_data"]

AT = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
"""The validation instant of every measurement (so the data never expires)."""

_FORMAT = 1  # bump when the generated files change shape
_POLICY = x509.ObjectIdentifier("1.2.250.1.213.1.1.5.1")  # IGC Santé-like OID arc
_LEAF_KEYS = 8
_SEED = 20261128


@dataclass(frozen=True, slots=True)
class BenchData:
    root: Path
    inter: Path
    arl: Path
    leaves_dir: Path
    leaves: tuple[Path, ...]
    crls: dict[int, Path]
    revoked: frozenset[int]  # indexes of the leaves listed in every CRL


def _name(*, cn: str, ou: str, o: str = "ASIP-SANTE",
          extra: tuple[x509.NameAttribute[str], ...] = ()) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        *extra,
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, o),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


ROOT_NAME = _name(cn="AC RACINE IGC-SANTE ELEMENTAIRE BENCH", ou="IGC-SANTE ELEMENTAIRE")
INTER_NAME = _name(cn="AC IGC-SANTE ELEMENTAIRE ORGANISATIONS BENCH",
                   ou="IGC-SANTE ELEMENTAIRE ORGANISATIONS")
_CA_KU = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                       crl_sign=True, encipher_only=False, decipher_only=False)
_LEAF_KU = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                         crl_sign=False, encipher_only=False, decipher_only=False)


def _ca(name: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey,
        *, path_len: int | None, dp: str | None) -> x509.Certificate:
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(random.Random(str(name)).getrandbits(120))
         .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
         .not_valid_after(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
         .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
         .add_extension(_CA_KU, critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             issuer_key.public_key()), critical=False)
         .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
             x509.ObjectIdentifier("2.5.29.32.0"), None)]), critical=False))
    if dp is not None:
        b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(dp)], None, None, None)]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


_GEN: tuple[rsa.RSAPrivateKey, x509.Certificate, list[rsa.RSAPublicKey]] | None = None


def _leaf(i: int, serial: int) -> bytes:
    assert _GEN is not None
    inter_key, inter, leaf_keys = _GEN
    pub = leaf_keys[i % len(leaf_keys)]
    idnat = f"1{10000000 + i:08d}"
    subject = _name(cn=f"bal-{i:05d}@ch-bench.mssante.fr", ou=idnat, o="CENTRE HOSPITALIER BENCH",
                    extra=(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Paris (75)"),))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(inter.subject)
            .public_key(pub).serial_number(serial)
            .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2029, 1, 1, tzinfo=dt.UTC))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_LEAF_KU, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.CertificatePolicies([x509.PolicyInformation(_POLICY, None)]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                inter_key.public_key()), critical=False)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier("http://igc-sante.bench/crl/orgs.crl")],
                None, None, None)]), critical=False)
            .sign(inter_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _leaf_job(args: tuple[int, int]) -> bytes:
    return _leaf(*args)


def _crl(issuer: x509.Certificate, key: rsa.RSAPrivateKey, serials: list[int]
         ) -> x509.CertificateRevocationList:
    reason = x509.CRLReason(x509.ReasonFlags.key_compromise)
    when = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    # the list goes to the constructor: add_revoked_certificate in a loop is O(n²)
    revoked = [x509.RevokedCertificateBuilder().serial_number(s).revocation_date(when)
               .add_extension(reason, critical=False).build() for s in serials]
    return (x509.CertificateRevocationListBuilder(revoked_certificates=revoked)
            .issuer_name(issuer.subject)
            .last_update(AT - dt.timedelta(hours=6)).next_update(AT + dt.timedelta(days=7))
            .add_extension(x509.CRLNumber(len(serials)), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def _paths(out: Path, leaves: int, crl_sizes: tuple[int, ...]) -> BenchData:
    leaves_dir = out / "leaves"
    return BenchData(
        root=out / "root.pem", inter=out / "inter.pem", arl=out / "arl.pem",
        leaves_dir=leaves_dir,
        leaves=tuple(leaves_dir / f"leaf{i:05d}.pem" for i in range(leaves)),
        crls={n: out / f"crl-{n}.pem" for n in crl_sizes},
        revoked=frozenset(range(0, min(leaves, 100), 10)),
    )


def ensure_data(out: Path, *, leaves: int, crl_sizes: tuple[int, ...],
                log: bool = True) -> BenchData:
    """The benchmark files under `out`, generated only when missing or made differently."""
    global _GEN  # noqa: PLW0603 - the forked signers read the CA key from here
    params = {"format": _FORMAT, "leaves": leaves, "crl_sizes": list(crl_sizes)}
    stamp = out / "params.json"
    data = _paths(out, leaves, crl_sizes)
    if stamp.exists():
        have = json.loads(stamp.read_text())
        if (have["format"], have["leaves"]) == (_FORMAT, leaves) and set(crl_sizes) <= set(
                have["crl_sizes"]):
            return data
    if out.exists():
        shutil.rmtree(out)
    data.leaves_dir.mkdir(parents=True)
    if log:
        print(f"generating {leaves} leaves and CRLs of {crl_sizes} entries in {out} ...",
              flush=True)
    rng = random.Random(_SEED)
    # bench keys, generated per run and never kept beyond bench/out (gitignored)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    root = _ca(ROOT_NAME, root_key, ROOT_NAME, root_key, path_len=None, dp=None)
    inter = _ca(INTER_NAME, inter_key, ROOT_NAME, root_key, path_len=0,
                dp="http://igc-sante.bench/crl/root.crl")
    leaf_keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
                 for _ in range(_LEAF_KEYS)]
    serials = [rng.getrandbits(127) | (1 << 126) for _ in range(leaves)]
    _GEN = (inter_key, inter, leaf_keys)
    try:
        with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
            pems = pool.map(_leaf_job, list(enumerate(serials)), chunksize=64)
    finally:
        _GEN = None
    for path, pem in zip(data.leaves, pems, strict=True):
        path.write_bytes(pem)
    enc = serialization.Encoding.PEM
    data.root.write_bytes(root.public_bytes(enc))
    data.inter.write_bytes(inter.public_bytes(enc))
    data.arl.write_bytes(_crl(root, root_key, []).public_bytes(enc))
    listed = [serials[i] for i in sorted(data.revoked)]
    taken = set(serials)
    for size, path in data.crls.items():
        others: list[int] = []
        while len(others) < size - len(listed):
            s = rng.getrandbits(127) | (1 << 126)
            if s not in taken:
                taken.add(s)
                others.append(s)
        path.write_bytes(_crl(inter, inter_key, [*listed, *others]).public_bytes(enc))
    stamp.write_text(json.dumps(params))
    return data
