"""`index.json`: what a build wrote, for tests and `certmgr demo` to consume.

One `Artifact` per CA, leaf, CRL and bundle, with its file paths relative to the
output directory. Serials are written as upper-case hex strings (JSON numbers
lose precision beyond 2**53 in many readers); times as ISO 8601 UTC.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from certmgr.errors import NotFoundError, ParseError

__all__ = ["INDEX_FILE", "Artifact", "Kind", "PkiIndex", "load_index"]

INDEX_FILE = "index.json"
Kind = Literal["ca", "leaf", "crl", "bundle"]


@dataclass(frozen=True, slots=True)
class Artifact:
    """One generated object. Fields that do not apply to its kind are None / empty.

    `issuer` is the manifest name of the issuing CA (CRLs: of the CA the CRL
    claims to come from); `issuer_dn`/`subject_dn` are RFC 4514 strings.
    `paths` maps a format (pem, der, p7b, p12) to a path relative to the index.
    """

    name: str
    kind: Kind
    scenario: str
    paths: dict[str, str]
    description: str = ""
    issuer: str | None = None
    issuer_dn: str | None = None
    subject_dn: str | None = None
    serial: int | None = None
    sha256: str | None = None
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    profile: str | None = None
    trusted: bool = False
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None
    crl_number: int | None = None
    revoked: tuple[int, ...] = field(default=())
    contents: tuple[str, ...] = field(default=())  # bundles: the certificates inside
    password: str | None = None  # p12 bundles

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "scenario": self.scenario,
                               "paths": dict(self.paths), "description": self.description}
        for key in ("issuer", "issuer_dn", "subject_dn", "sha256", "profile", "crl_number",
                    "password"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.serial is not None:
            out["serial"] = format(self.serial, "X")
        for key in ("not_before", "not_after", "this_update", "next_update"):
            value: dt.datetime | None = getattr(self, key)
            if value is not None:
                out[key] = _iso(value)
        if self.kind == "ca":
            out["trusted"] = self.trusted
        if self.kind == "crl":
            out["revoked"] = [format(s, "X") for s in self.revoked]
        if self.contents:
            out["contents"] = list(self.contents)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Artifact:
        times = {k: dt.datetime.fromisoformat(raw[k]) for k in
                 ("not_before", "not_after", "this_update", "next_update") if k in raw}
        return cls(
            name=raw["name"], kind=raw["kind"], scenario=raw["scenario"],
            paths=dict(raw["paths"]), description=raw.get("description", ""),
            issuer=raw.get("issuer"), issuer_dn=raw.get("issuer_dn"),
            subject_dn=raw.get("subject_dn"),
            serial=int(raw["serial"], 16) if "serial" in raw else None,
            sha256=raw.get("sha256"), profile=raw.get("profile"),
            trusted=bool(raw.get("trusted", False)), crl_number=raw.get("crl_number"),
            revoked=tuple(int(s, 16) for s in raw.get("revoked", ())),
            contents=tuple(raw.get("contents", ())), password=raw.get("password"), **times,
        )


@dataclass(frozen=True, slots=True)
class PkiIndex:
    """The artifacts of one build at instant `at`, rooted at `out_dir`."""

    out_dir: Path
    at: dt.datetime
    artifacts: tuple[Artifact, ...]

    def __getitem__(self, name: str) -> Artifact:
        """The artifact called `name`; NotFoundError names it when absent."""
        for artifact in self.artifacts:
            if artifact.name == name:
                return artifact
        raise NotFoundError(f"no artifact {name!r} in the test PKI index at {self.out_dir}")

    def __contains__(self, name: object) -> bool:
        return any(a.name == name for a in self.artifacts)

    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.artifacts)

    def path(self, name: str, fmt: str | None = None) -> Path:
        """Absolute path of `name` in format `fmt` (default: its first format)."""
        paths = self[name].paths
        rel = paths[fmt] if fmt is not None else next(iter(paths.values()))
        return self.out_dir / rel

    def of_kind(self, kind: Kind) -> tuple[Artifact, ...]:
        return tuple(a for a in self.artifacts if a.kind == kind)

    def with_scenario(self, scenario: str) -> tuple[Artifact, ...]:
        return tuple(a for a in self.artifacts if a.scenario == scenario)

    def trust_anchors(self) -> tuple[Artifact, ...]:
        """The CAs a user would trust: the fixture roots declared `trusted`."""
        return tuple(a for a in self.artifacts
                     if a.kind == "ca" and a.trusted and a.issuer == a.name)

    def to_json(self) -> dict[str, Any]:
        return {"at": _iso(self.at), "artifacts": [a.to_json() for a in self.artifacts]}

    def write(self) -> Path:
        target = self.out_dir / INDEX_FILE
        target.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")
        return target


def load_index(out_dir: Path) -> PkiIndex:
    """Read `out_dir/index.json`. Raises ParseError when absent or malformed."""
    source = out_dir / INDEX_FILE
    try:
        raw = json.loads(source.read_text("utf-8"))
        return PkiIndex(out_dir=out_dir, at=dt.datetime.fromisoformat(raw["at"]),
                        artifacts=tuple(Artifact.from_json(a) for a in raw["artifacts"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"not a test PKI index: {exc}", source=source) from exc


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
