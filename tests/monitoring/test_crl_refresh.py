"""CRL refresh against a real loopback HTTP server: good, stale, oversized, wrongly-signed
and redirected CRLs; URLs outside the allow-list are never requested."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from certmgr.fetch.http import HttpFetcher
from certmgr.fetch.retry import RetryPolicy
from certmgr.fetch.testserver import LoopbackServer, Reply
from certmgr.services.alert_events import AlertKind
from certmgr.services.alerts import evaluate_alerts
from certmgr.services.crl_refresh import collect_crl_urls, refresh_crls
from certmgr.services.importer import import_paths
from certmgr.store.models import Crl
from certmgr.store.session import Store

FIXED = Path(__file__).resolve().parents[2] / "fixtures" / "pki" / "fixed"
AT = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def ca_store(store: Store) -> Store:
    if not (FIXED / "index.json").is_file():
        pytest.skip("fixture PKI not generated")
    report = import_paths(store=store, paths=[FIXED / "ca" / "ACR-EL.der",
                                              FIXED / "ca" / "ACI-EL-ORG.der"],
                          at=AT, actor="test", accept=frozenset({"ca"}))
    assert report is not None
    return store


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        crl = FIXED / "crl"
        running.route("/good.crl", Reply(body=(crl / "ACI-EL-ORG.crl").read_bytes()))
        running.route("/stale.crl", Reply(body=(crl / "crl-ACI-EL-ORG-stale.crl").read_bytes()))
        running.route("/wrong-key.crl",
                      Reply(body=(crl / "crl-ACI-EL-ORG-wrong-key.crl").read_bytes()))
        running.route("/big.crl", Reply(body=b"0" * 50_000))
        running.route("/moved.crl", Reply(status=301, headers={"Location": "/good.crl"}))
        running.route("/away.crl", Reply(status=302,
                                         headers={"Location": "http://evil.example/x.crl"}))
        yield running


def _fetcher() -> HttpFetcher:
    return HttpFetcher(now=lambda: AT, retry=RetryPolicy(attempts=1), sleep=lambda _s: None)


def _current(store: Store) -> list[str]:
    with store.sessions() as session:
        return [c.source or "" for c in session.scalars(select(Crl).where(
            col(Crl.is_current).is_(True)))]


def test_refresh_outcomes_per_url(ca_store: Store, server: LoopbackServer) -> None:
    urls = [server.url(p) for p in ("/good.crl", "/stale.crl", "/wrong-key.crl", "/big.crl",
                                    "/moved.crl", "/away.crl")]
    never = server.url("/never.crl", host="localhost")  # a host outside the allow-list
    with _fetcher() as fetcher:
        report = refresh_crls(store=ca_store, fetcher=fetcher,
                              policy=server.policy(max_bytes=10_000), at=AT, actor="test",
                              urls=[*urls, never, "ldap://annuaire.example/cn=AC"])
    statuses = {o.url.rsplit("/", 1)[-1]: o.status for o in report.outcomes}
    assert statuses == {"good.crl": "current", "stale.crl": "kept", "wrong-key.crl": "kept",
                        "big.crl": "failed", "moved.crl": "known", "away.crl": "refused",
                        "never.crl": "refused", "cn=AC": "skipped"}
    assert not report.ok
    assert "never.crl" not in {r.path.lstrip("/") for r in server.requests}
    # the good CRL stays current whatever came after it
    assert _current(ca_store) == [server.url("/good.crl")]


def test_a_failed_download_keeps_the_last_valid_crl_and_it_goes_stale(
        ca_store: Store, server: LoopbackServer) -> None:
    with _fetcher() as fetcher:
        refresh_crls(store=ca_store, fetcher=fetcher, policy=server.policy(), at=AT,
                     actor="test", urls=[server.url("/good.crl")])
        server.route("/good.crl", Reply(status=503))
        later = AT + dt.timedelta(days=7)
        report = refresh_crls(store=ca_store, fetcher=fetcher, policy=server.policy(),
                              at=later, actor="test", urls=[server.url("/good.crl")])
    assert [o.status for o in report.outcomes] == ["failed"]
    assert _current(ca_store) == [server.url("/good.crl")]
    events = evaluate_alerts(store=ca_store, at=later, thresholds=())
    assert [e.kind for e in events] == [AlertKind.CRL_STALE]


def test_urls_come_from_the_stored_cas_and_the_settings(ca_store: Store) -> None:
    urls = collect_crl_urls(store=ca_store, extra_urls=["http://igc-sante.esante.gouv.fr/x.crl"])
    assert "http://igc-sante.esante.gouv.fr/x.crl" in urls
    assert any(u.endswith("/ACR-EL.crl") for u in urls)
