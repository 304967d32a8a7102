"""The declarative description of the test PKI (`manifest.toml`), as typed values.

The manifest says *what* exists (CAs, leaves, CRLs, bundles), with times either
absolute (a TOML datetime) or relative to the build instant `at` (a string such
as ``"+120d-1h"``). `load_manifest` checks the references between entries so a
typo fails at load time with the entry's name, not halfway through a build.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from certmgr.clock import ensure_utc
from certmgr.errors import ConfigError

__all__ = [
    "BundleSpec",
    "CaSpec",
    "CrlSpec",
    "LeafSpec",
    "Manifest",
    "RevocationSpec",
    "Urls",
    "When",
    "load_manifest",
]

_OFFSET = re.compile(r"([+-])(\d+)([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_PROFILES = frozenset({"AUTH_CLI", "SIGN", "SERV_SSL", "LEGACY_CLASSE4"})
_REASONS = frozenset({"key_compromise", "ca_compromise", "certificate_hold", "superseded",
                      "cessation_of_operation", "affiliation_changed", "unspecified"})
_BUNDLE_FORMATS = frozenset({"p7b-pem", "p7b-der", "p12"})


@dataclass(frozen=True, slots=True)
class When:
    """An instant: `absolute` when set, else `at + offset`."""

    absolute: dt.datetime | None = None
    offset: dt.timedelta = dt.timedelta(0)

    def resolve(self, at: dt.datetime) -> dt.datetime:
        return self.absolute if self.absolute is not None else at + self.offset

    @classmethod
    def parse(cls, value: object, *, where: str) -> When:
        """A TOML datetime (absolute) or a relative string like ``"-1s"``, ``"+120d-1h"``."""
        if isinstance(value, dt.datetime):
            return cls(absolute=ensure_utc(value))
        if isinstance(value, str) and value and _OFFSET.sub("", value) == "":
            delta = dt.timedelta(0)
            for sign, amount, unit in _OFFSET.findall(value):
                step = dt.timedelta(**{_UNITS[unit]: int(amount)})
                delta += step if sign == "+" else -step
            return cls(offset=delta)
        raise ConfigError(f"{where}: expected a datetime or an offset like '+6d-1h', got {value!r}")


@dataclass(frozen=True, slots=True)
class Urls:
    """Publication points written into the extensions; all carry a FIXTURE path."""

    crl_base: str
    ca_base: str
    ocsp: str
    cps: str
    ldap_host: str


@dataclass(frozen=True, slots=True)
class CaSpec:
    name: str
    subject: str
    issuer: str  # the entry's own name for a self-signed root
    scenario: str
    trusted: bool
    key_size: int
    not_before: When
    not_after: When
    path_length: int | None
    key_usage: tuple[str, ...]
    signing_key: str | None  # sign with this entry's key instead of the issuer's (decoys)
    description: str

    @property
    def is_root(self) -> bool:
        return self.issuer == self.name


@dataclass(frozen=True, slots=True)
class LeafSpec:
    name: str
    subject: str
    issuer: str
    profile: str
    scenario: str
    key_size: int
    hash: str
    not_before: When | None
    not_after: When | None
    der: bool
    tamper: str | None  # "flip-signature"
    unknown_critical: bool
    signing_key: str | None
    description: str


@dataclass(frozen=True, slots=True)
class RevocationSpec:
    cert: str
    reason: str
    date: When


@dataclass(frozen=True, slots=True)
class CrlSpec:
    name: str
    issuer: str
    scenario: str
    file: str  # stem of crl/<file>.crl, matching the CRL DP URLs
    number: int
    this_update: When
    next_update: When
    revoked: tuple[RevocationSpec, ...]
    delta_of: str | None
    signing_key: str | None
    unknown_critical: bool
    pem: bool
    description: str


@dataclass(frozen=True, slots=True)
class BundleSpec:
    name: str
    format: str
    file: str  # file name under bundles/
    certs: tuple[str, ...]  # p7b: the certificates; p12: [leaf, chain...]
    password: str | None
    scenario: str
    description: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """The whole test PKI; entries keep the manifest's order (issuers come first)."""

    urls: Urls
    policies: dict[str, str]  # profile -> certificate policy OID
    cas: tuple[CaSpec, ...]
    leaves: tuple[LeafSpec, ...]
    crls: tuple[CrlSpec, ...]
    bundles: tuple[BundleSpec, ...]

    def key_sizes(self) -> dict[str, int]:
        """Every key the build needs, by name."""
        sizes = {ca.name: ca.key_size for ca in self.cas}
        sizes.update((leaf.name, leaf.key_size) for leaf in self.leaves)
        return sizes


def load_manifest(path: Path | None = None) -> Manifest:
    """Read and check a manifest; the one shipped with certmgr when `path` is None.

    Raises ConfigError naming the entry when a field is missing, malformed, or
    refers to an entry that does not exist (or comes later in the file).
    """
    if path is None:
        text = resources.files("certmgr.testpki").joinpath("manifest.toml").read_text("utf-8")
        source = "certmgr/testpki/manifest.toml"
    else:
        text, source = path.read_text("utf-8"), str(path)
    try:
        raw = tomllib.loads(text)
        return _check(_parse(raw))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"invalid test PKI manifest: {exc!r}", source=source) from exc
    except ConfigError as exc:
        raise ConfigError(exc.reason, source=source) from exc


def _parse(raw: dict[str, Any]) -> Manifest:
    urls = Urls(**raw["urls"])
    cas = tuple(
        CaSpec(
            name=e["name"], subject=e["subject"], issuer=e.get("issuer", e["name"]),
            scenario=e["scenario"], trusted=bool(e.get("trusted", False)),
            key_size=int(e.get("key_size", 4096)),
            not_before=When.parse(e["not_before"], where=f"ca {e['name']}.not_before"),
            not_after=When.parse(e["not_after"], where=f"ca {e['name']}.not_after"),
            path_length=e.get("path_length"),
            key_usage=tuple(e.get("key_usage", ("key_cert_sign", "crl_sign"))),
            signing_key=e.get("signing_key"), description=e.get("description", ""),
        )
        for e in raw.get("ca", ())
    )
    leaves = tuple(
        LeafSpec(
            name=e["name"], subject=e["subject"], issuer=e["issuer"], profile=e["profile"],
            scenario=e["scenario"], key_size=int(e.get("key_size", 2048)),
            hash=e.get("hash", "sha256"),
            not_before=_opt_when(e, "not_before"), not_after=_opt_when(e, "not_after"),
            der=bool(e.get("der", False)), tamper=e.get("tamper"),
            unknown_critical=bool(e.get("unknown_critical", False)),
            signing_key=e.get("signing_key"), description=e.get("description", ""),
        )
        for e in raw.get("leaf", ())
    )
    crls = tuple(
        CrlSpec(
            name=e["name"], issuer=e["issuer"], scenario=e["scenario"],
            file=e.get("file", e["name"]), number=int(e["number"]),
            this_update=When.parse(e["this_update"], where=f"crl {e['name']}.this_update"),
            next_update=When.parse(e["next_update"], where=f"crl {e['name']}.next_update"),
            revoked=tuple(
                RevocationSpec(cert=r["cert"], reason=r["reason"],
                               date=When.parse(r["date"], where=f"crl {e['name']}.revoked"))
                for r in e.get("revoked", ())
            ),
            delta_of=e.get("delta_of"), signing_key=e.get("signing_key"),
            unknown_critical=bool(e.get("unknown_critical", False)),
            pem=bool(e.get("pem", False)), description=e.get("description", ""),
        )
        for e in raw.get("crl", ())
    )
    bundles = tuple(
        BundleSpec(name=e["name"], format=e["format"], file=e["file"], certs=tuple(e["certs"]),
                   password=e.get("password"), scenario=e.get("scenario", "bundle"),
                   description=e.get("description", ""))
        for e in raw.get("bundle", ())
    )
    return Manifest(urls=urls, policies=dict(raw["policies"]), cas=cas, leaves=leaves,
                    crls=crls, bundles=bundles)


def _opt_when(entry: dict[str, Any], field: str) -> When | None:
    value = entry.get(field)
    return None if value is None else When.parse(value, where=f"leaf {entry['name']}.{field}")


def _check(m: Manifest) -> Manifest:
    seen: set[str] = set()
    cas = {c.name for c in m.cas}
    certs = cas | {leaf.name for leaf in m.leaves}
    for ca in m.cas:
        _need(ca.name not in seen, f"ca {ca.name}: duplicate name")
        _need(ca.is_root or ca.issuer in seen,
              f"ca {ca.name}: issuer {ca.issuer} not defined before")
        seen.add(ca.name)
    for leaf in m.leaves:
        _need(leaf.name not in seen, f"leaf {leaf.name}: duplicate name")
        _need(leaf.issuer in cas, f"leaf {leaf.name}: unknown issuer {leaf.issuer}")
        _need(leaf.profile in _PROFILES, f"leaf {leaf.name}: unknown profile {leaf.profile}")
        _need(leaf.profile in m.policies, f"leaf {leaf.name}: no policy for {leaf.profile}")
        seen.add(leaf.name)
    signers = [(e.name, e.signing_key) for e in m.cas]
    signers += [(e.name, e.signing_key) for e in m.leaves]
    signers += [(e.name, e.signing_key) for e in m.crls]
    for name, signing_key in signers:
        _need(signing_key in (None, *certs), f"{name}: unknown signing_key {signing_key}")
    crl_names: set[str] = set()
    for crl in m.crls:
        _need(crl.name not in seen, f"crl {crl.name}: duplicate name")
        seen.add(crl.name)
        _need(crl.issuer in cas, f"crl {crl.name}: unknown issuer {crl.issuer}")
        _need(crl.delta_of in (None, *crl_names), f"crl {crl.name}: unknown base {crl.delta_of}")
        for rev in crl.revoked:
            _need(rev.cert in certs, f"crl {crl.name}: unknown revoked cert {rev.cert}")
            _need(rev.reason in _REASONS, f"crl {crl.name}: unknown reason {rev.reason}")
        crl_names.add(crl.name)
    for bundle in m.bundles:
        _need(bundle.name not in seen, f"bundle {bundle.name}: duplicate name")
        seen.add(bundle.name)
        _need(bundle.format in _BUNDLE_FORMATS, f"bundle {bundle.name}: bad format")
        _need(all(c in certs for c in bundle.certs), f"bundle {bundle.name}: unknown cert")
        _need(bundle.format != "p12" or bundle.password is not None,
              f"bundle {bundle.name}: a p12 needs a password")
    return m


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
