"""Which distribution points `crl refresh` downloads, on the real IGC Santé TEST files
(`../shared/igc-sante/`, skipped when absent) and the fixture PKI, on SQLite and
PostgreSQL: only the CRLs a stored IGC Santé CA can verify."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from certmgr.services.crl_refresh import collect_crl_urls, plan_crl_urls
from certmgr.services.importer import ALL_KINDS, import_paths
from certmgr.store.session import Store
from tests.support import require_fixed_pki

REAL = Path(__file__).resolve().parents[3] / "shared" / "igc-sante"
AT = dt.datetime(2019, 1, 15, tzinfo=dt.UTC)  # the TEST leaf is valid then
TEST_LEAF = "asip-p12-EL-TEST-ORG-SIGN-20181116-141712.pem"
LEAF_CRL = "http://igc-sante.esante.gouv.fr/CRL/ACI-EL-ORG-TEST.crl"
ROOT_CRL = "http://igc-sante.esante.gouv.fr/CRL/ACR-EL-TEST.crl"


def _real(*parts: str) -> Path:
    path = REAL.joinpath(*parts)
    if not path.is_file():
        pytest.skip("the real IGC Santé files are not here")
    return path


def _import(store: Store, *paths: Path, accept: frozenset[str] = ALL_KINDS) -> None:
    report = import_paths(store=store, paths=list(paths), at=AT, actor="test", accept=accept)
    assert report.ok, report.to_json()


def test_a_test_leaf_waits_for_its_ca(store: Store) -> None:
    _import(store, _real("test-leaves", TEST_LEAF))
    plan = dict(plan_crl_urls(store=store))
    assert "not in the store" in (plan[LEAF_CRL] or "")

    _import(store, _real("test-env", "ACR-EL-TEST.cer"), _real("test-env", "ACI-EL-ORG-TEST.cer"),
            accept=frozenset({"ca"}))
    plan = dict(plan_crl_urls(store=store))
    assert plan[LEAF_CRL] is None  # the CA is stored: its CRL can be verified
    assert plan[ROOT_CRL] is None  # named by the stored TEST intermediate
    ldap = [url for url in plan if url.startswith("ldap:")]
    assert ldap  # listed, and left to the fetch policy, which skips the scheme


def test_fixture_and_other_cas_are_never_planned(store: Store) -> None:
    fixed = require_fixed_pki()
    _import(store, fixed / "ca" / "ACR-EL.der", fixed / "ca" / "ACI-EL-ORG.der",
            fixed / "ca" / "UNKNOWN-ACR.der", accept=frozenset({"ca"}))
    _import(store, fixed / "leaves" / "unknown-ca-auth.pem")
    configured = "http://igc-sante.esante.gouv.fr/CRL/extra.crl"
    plan = dict(plan_crl_urls(store=store, extra_urls=configured))  # a bare string: one URL
    assert plan.pop(configured) is None
    assert plan
    http = {url: reason for url, reason in plan.items() if url.startswith("http")}
    assert any("FIXTURE" in (r or "") for r in http.values())
    assert any("not an IGC Santé certificate" in (r or "") for r in http.values())
    assert None not in http.values()
    # collect_crl_urls still lists everything the store names
    assert set(collect_crl_urls(store=store, extra_urls=[configured])) == {configured, *plan}
