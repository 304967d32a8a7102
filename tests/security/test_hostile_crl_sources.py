"""CRL distribution points an attacker would like certmgr to follow, through the real CRL
refresh and a loopback HTTP server: `file://`, private and link-local addresses (as
literals, behind an allow-listed name, behind a redirect), redirect loops, and a CRL
bomb. Each gets its own outcome; none is read from anywhere but the loopback server,
and the current CRLs stay what they were."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from certmgr.fetch.http import HttpFetcher
from certmgr.fetch.policy import system_resolver
from certmgr.fetch.retry import RetryPolicy
from certmgr.fetch.testserver import LoopbackServer, Reply
from certmgr.services.crl_refresh import refresh_crls
from certmgr.store.models import Crl
from certmgr.store.session import Store, open_store

from .conftest import AT, import_crls, settings_for

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "files"
REBIND = "crl.rebind.example"  # allow-listed, but resolves to a private address


def _redirect(location: str) -> Reply:
    return Reply(status=302, headers={"Location": location})


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        running.route("/loop-a.crl", _redirect("/loop-b.crl"))
        running.route("/loop-b.crl", _redirect("/loop-a.crl"))
        running.route("/to-private.crl", _redirect("http://10.0.0.7/x.crl"))
        running.route("/to-metadata.crl", _redirect("http://169.254.169.254/latest/"))
        running.route("/to-file.crl", _redirect("file:///etc/passwd"))
        running.route("/to-rebind.crl", _redirect(f"http://{REBIND}/x.crl"))
        running.route("/bomb.crl",
                      Reply(body=(CORPUS / "crl-bomb-entry-count.crl").read_bytes()))
        yield running


def _resolver(host: str, port: int) -> list[str]:
    return ["10.9.8.7"] if host == REBIND else system_resolver(host, port)


def _current(store: Store) -> dict[str, str]:
    with store.sessions() as session:
        return {c.issuer: c.fingerprint_sha256 for c in session.scalars(
            select(Crl).where(col(Crl.is_current).is_(True)))}


def test_hostile_distribution_points(home: Path, server: LoopbackServer) -> None:
    import_crls(home)
    hostile_on_server = ["/loop-a.crl", "/to-private.crl", "/to-metadata.crl", "/to-file.crl",
                         "/to-rebind.crl", "/bomb.crl"]
    elsewhere = {"file": "file:///etc/passwd", "private": "http://10.1.2.3/x.crl",
                 "metadata": "http://169.254.169.254/latest/meta-data/",
                 "rebind": f"http://{REBIND}/x.crl",
                 "userinfo": f"http://user:pw@{server.host}:{server.port}/bomb.crl"}
    # even allow-listed, an address that is not global is refused (loopback is the
    # test server's exception)
    policy = server.policy(hosts=(server.host, REBIND, "10.1.2.3", "169.254.169.254"))
    with open_store(settings_for(home)) as store:
        before = _current(store)
        assert before
        fetcher = HttpFetcher(now=lambda: AT, retry=RetryPolicy(attempts=1),
                              sleep=lambda _s: None, resolver=_resolver)
        with fetcher:
            report = refresh_crls(store=store, fetcher=fetcher, policy=policy,
                                  at=AT + dt.timedelta(hours=1), actor="tester",
                                  urls=[*map(server.url, hostile_on_server),
                                        *elsewhere.values()])
        after = _current(store)
    outcomes = {o.url: o for o in report.outcomes}
    statuses = {key: outcomes[url].status for key, url in elsewhere.items()}
    statuses |= {p: outcomes[server.url(p)].status for p in hostile_on_server}
    assert statuses == {
        "file": "skipped", "private": "refused", "metadata": "refused", "rebind": "refused",
        "userinfo": "refused", "/loop-a.crl": "failed", "/to-private.crl": "refused",
        "/to-metadata.crl": "refused", "/to-file.crl": "refused", "/to-rebind.crl": "refused",
        "/bomb.crl": "failed"}, {u: o.detail for u, o in outcomes.items()}
    assert "redirect" in (outcomes[server.url("/loop-a.crl")].detail or "")
    assert "DER" in (outcomes[server.url("/bomb.crl")].detail or "")  # refused unparsed
    assert not report.ok
    # only the loopback paths were requested, the loop a bounded number of times
    requested = [r.path for r in server.requests]
    assert set(requested) <= {*hostile_on_server, "/loop-b.crl"}
    assert requested.count("/loop-a.crl") + requested.count("/loop-b.crl") <= 4
    assert after == before
