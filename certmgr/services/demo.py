"""The demo: a fresh IGC Santé look-alike PKI relative to now, and what certmgr makes of it.

Everything happens under `<home>/demo/`; nothing reaches the network. The PKI is the project's
test PKI (`certmgr.testpki`, marked `OU=IGC-SANTE FIXTURE` so it can never pass for
production), built at `at`, so that its expiring certificates really expire in N days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certmgr.pki.findings import Severity
from certmgr.services.verify import VerifyReport, VerifyRequest, verify_files
from certmgr.testpki import PkiIndex, build_pki

__all__ = ["DemoLeaf", "DemoReport", "build_demo_pki", "demo_pki_dir", "verify_demo_pki"]

# CRL scenarios a well-run operator would hold: the current CRLs and ARLs and the delta.
_USABLE_CRL_SCENARIOS = frozenset({"current", "delta"})


@dataclass(frozen=True, slots=True)
class DemoLeaf:
    """One scenario certificate of the demo PKI and certmgr's verdict on it."""

    name: str
    scenario: str
    description: str
    valid: bool
    codes: tuple[str, ...]
    days_left: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scenario": self.scenario,
            "description": self.description,
            "valid": self.valid,
            "codes": list(self.codes),
            "days_left": self.days_left,
        }


@dataclass(frozen=True, slots=True)
class DemoReport:
    pki_dir: Path
    at: dt.datetime
    leaves: tuple[DemoLeaf, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "pki_dir": str(self.pki_dir),
            "at": self.at,
            "leaves": [leaf.to_json() for leaf in self.leaves],
        }


def demo_pki_dir(home: Path) -> Path:
    return home / "demo" / "pki"


def build_demo_pki(*, home: Path, at: dt.datetime) -> PkiIndex:
    """Build (or rebuild) the demo PKI at instant `at` under `<home>/demo/pki`."""
    out = demo_pki_dir(home)
    out.mkdir(parents=True, exist_ok=True)
    return build_pki(out_dir=out, at=at)


def verify_demo_pki(index: PkiIndex, *, at: dt.datetime) -> DemoReport:
    """Validate every scenario leaf of `index` as certmgr verify would, profile mailbox."""
    leaves = index.of_kind("leaf")
    anchors = index.trust_anchors()
    anchor_names = {a.name for a in anchors}
    request = VerifyRequest(
        certificates=tuple(index.path(leaf.name, "pem") for leaf in leaves),
        trust=tuple(index.path(a.name, "pem") for a in anchors),
        untrusted=tuple(index.path(c.name, "pem") for c in index.of_kind("ca")
                        if c.name not in anchor_names),
        crls=tuple(index.path(c.name) for c in index.of_kind("crl")
                   if c.scenario in _USABLE_CRL_SCENARIOS),
        profile="mailbox",
        accept_stale_crl=True,
        processes=1,
    )
    report = verify_files(request, at=at)
    return DemoReport(pki_dir=index.out_dir, at=report.at,
                      leaves=tuple(_demo_leaves(index, report)))


def _demo_leaves(index: PkiIndex, report: VerifyReport) -> list[DemoLeaf]:
    by_source = {v.source: v for v in report.verdicts}
    out: list[DemoLeaf] = []
    for leaf in index.of_kind("leaf"):
        verdict = by_source.get(str(index.path(leaf.name, "pem")))
        if verdict is None:
            continue
        codes = tuple(dict.fromkeys(
            str(f.code) for f in verdict.findings if f.severity >= Severity.WARNING
        ))
        days = None
        if leaf.not_after is not None:
            days = int((leaf.not_after - report.at).total_seconds() // 86400)
        out.append(DemoLeaf(leaf.name, leaf.scenario, leaf.description, verdict.valid, codes,
                            days))
    return out
