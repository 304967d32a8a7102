"""`certmgr crl refresh` on the demo home: the demo's FIXTURE PKI names the real ANS host
in its distribution points, and none of them may be requested; configured URLs go only to
allow-listed hosts. A real loopback HTTP server stands for the outside world."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.config import load_settings
from certmgr.fetch.http import HttpFetcher
from certmgr.fetch.policy import system_resolver
from certmgr.fetch.retry import RetryPolicy
from certmgr.fetch.testserver import LoopbackServer, Reply
from certmgr.services.crl_refresh import plan_crl_urls, refresh_crls
from certmgr.store.session import open_store

from .conftest import Invoke

ANS_HOST = "igc-sante.esante.gouv.fr"


@pytest.fixture
def server(demo: Path) -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        running.route("/ACR-EL.crl", Reply(body=(demo / "pki" / "crl" / "ACR-EL.crl").read_bytes()))
        yield running


def _statuses(outcomes: list[dict[str, str]]) -> dict[str, str]:
    return {o["url"]: o["status"] for o in outcomes}


def test_refresh_of_the_demo_home_requests_nothing(cli: Invoke, demo: Path) -> None:
    done = cli("--home", demo, "crl", "refresh", "--json")
    assert done.code == 0, done.err
    outcomes = done.json()["urls"]
    assert outcomes
    assert {o["status"] for o in outcomes} == {"skipped"}
    details = [o["detail"] for o in outcomes if o["url"].startswith("http")]
    assert details
    assert any("FIXTURE" in d for d in details)
    assert not any("resolve" in d for d in details)


def test_configured_urls_go_to_allow_listed_hosts_only(cli: Invoke, demo: Path,
                                                       server: LoopbackServer) -> None:
    local = server.url("/ACR-EL.crl")  # 127.0.0.1, but not on port 80/443
    named = server.url("/ACR-EL.crl", host="localhost")  # not in crl_hosts
    (demo / "config.toml").write_text(
        f'crl_hosts = ["{ANS_HOST}", "127.0.0.1"]\ncrl_urls = ["{local}", "{named}"]\n',
        encoding="utf-8")
    done = cli("--home", demo, "crl", "refresh", "--json")
    assert done.code == 1  # a refused URL is a finding
    statuses = _statuses(done.json()["urls"])
    assert statuses.pop(local) == "refused"
    assert statuses.pop(named) == "refused"
    assert set(statuses.values()) == {"skipped"}
    assert server.requests == []


def test_only_the_configured_url_is_downloaded(demo: Path, server: LoopbackServer) -> None:
    """The service with the ANS host allow-listed: the FIXTURE distribution points are
    never even resolved; the configured loopback URL is fetched once and is valid."""
    resolved: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return system_resolver(host, port)

    at = dt.datetime.now(dt.UTC)
    url = server.url("/ACR-EL.crl")
    settings = load_settings(home=demo, environ={})
    with open_store(settings) as store:
        planned = dict(plan_crl_urls(store=store, extra_urls=[url]))
        with HttpFetcher(now=lambda: at, retry=RetryPolicy(attempts=1), sleep=lambda _s: None,
                         resolver=resolver) as fetcher:
            report = refresh_crls(store=store, fetcher=fetcher, at=at, actor="test",
                                  policy=server.policy(hosts=[server.host, ANS_HOST]),
                                  extra_urls=[url])
    assert planned.pop(url) is None
    assert planned
    assert all(reason is not None for reason in planned.values())
    statuses = {o.url: o.status for o in report.outcomes}
    assert statuses.pop(url) in {"known", "current"}
    assert set(statuses.values()) == {"skipped"}
    assert [r.path for r in server.requests] == ["/ACR-EL.crl"]
    assert resolved == []
