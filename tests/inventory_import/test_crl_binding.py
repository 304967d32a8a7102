"""CRL store rules ("keep the last valid CRL"), binding rules and semantics, trust material."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from sqlmodel import col, select

from certmgr.pki.classify import Environment
from certmgr.services.binding import BindingRules
from certmgr.services.crls import CrlOutcome
from certmgr.services.importer import import_paths
from certmgr.services.trustctx import load_trust_material
from certmgr.store.enums import BindingRole
from certmgr.store.models import Binding, Certificate, Crl, Mailbox
from certmgr.store.session import Store

from .conftest import ACTOR, AT, add, counts, make_crl, make_leaf


def _current(store: Store) -> dict[str, tuple[int | None, bool]]:
    """fingerprint -> (number, current) of ACI-EL-ORG's base CRLs."""
    with store.sessions() as session:
        rows = session.scalars(select(Crl).where(col(Crl.is_delta).is_(False),
                                                 col(Crl.issuer).startswith(
                                                     "CN=AC IGC-SANTE ELEMENTAIRE ORGANISATIONS,"))
                               ).all()
    return {r.fingerprint_sha256: (r.crl_number, r.is_current) for r in rows}


def _numbers_current(store: Store) -> set[int | None]:
    return {n for n, current in _current(store).values() if current}


def test_crl_replacement_rules(store: Store, pki: Path, tmp_path: Path) -> None:
    import_paths(store=store, paths=[pki / "bundles" / "chain.p7b"], at=AT, actor=ACTOR)
    import_paths(store=store, paths=[pki / "crl" / "ACI-EL-ORG.crl"], at=AT, actor=ACTOR)
    assert _numbers_current(store) == {100}
    # older (stale, #99): kept as history, never current
    import_paths(store=store, paths=[pki / "crl" / "crl-ACI-EL-ORG-stale.crl"], at=AT,
                 actor=ACTOR)
    assert _numbers_current(store) == {100}
    # newer but signed by another key: unverified, never current
    forged = tmp_path / "forged.crl"
    forged.write_bytes(make_crl(pki, this_update=AT + dt.timedelta(hours=2), number=200,
                                signer="ACI-EL-ORG-DECOY"))
    report = import_paths(store=store, paths=[forged], at=AT, actor=ACTOR)
    assert report.ok
    (item,) = report.files[0].items
    assert isinstance(item, CrlOutcome)
    assert not item.verified
    assert _numbers_current(store) == {100}
    # newer and verified: replaces
    newer = tmp_path / "newer.crl"
    newer.write_bytes(make_crl(pki, this_update=AT + dt.timedelta(hours=1), number=101))
    import_paths(store=store, paths=[newer], at=AT, actor=ACTOR)
    assert _numbers_current(store) == {101}
    # the older #100 imported again: known, the current one stays
    import_paths(store=store, paths=[pki / "crl" / "ACI-EL-ORG.crl"], at=AT, actor=ACTOR)
    assert _numbers_current(store) == {101}
    assert len(_current(store)) == 4


def test_crl_before_its_ca_in_one_run_is_verified(store: Store, pki: Path) -> None:
    report = import_paths(store=store, paths=[pki / "crl" / "ACI-EL-ORG.crl",
                                              pki / "bundles" / "chain.p7b"], at=AT, actor=ACTOR)
    (crl,) = report.files[0].items
    assert isinstance(crl, CrlOutcome)
    assert crl.status == "verified"
    assert crl.current
    assert _numbers_current(store) == {100}


def test_unknown_issuer_crl_is_kept_unverified(store: Store, pki: Path) -> None:
    report = import_paths(store=store, paths=[pki / "crl" / "ACI-EL-ORG.crl"], at=AT,
                          actor=ACTOR)
    assert report.ok
    assert report.files[0].status == "added"
    assert _numbers_current(store) == set()
    assert len(_current(store)) == 1


def _bindings(store: Store, address: str) -> dict[str, BindingRole]:
    with store.sessions() as session:
        rows = session.exec(select(Certificate.cn, Binding.role)
                            .join(Binding, col(Binding.certificate_id) == Certificate.id)
                            .join(Mailbox, col(Mailbox.id) == Binding.mailbox_id)
                            .where(col(Mailbox.address) == address)).all()
    return {cn or "": BindingRole(role) for cn, role in rows}


def _leaf(tmp_path: Path, pki: Path, name: str, **kw: object) -> Path:
    path = tmp_path / f"{name}.pem"
    path.write_bytes(make_leaf(pki, **kw))  # type: ignore[arg-type]
    return path


def test_binding_rules_cn_san_and_map(store: Store, pki: Path, tmp_path: Path) -> None:
    for address in ("cn@ch.mssante.fr", "san@ch.mssante.fr", "map@ch.mssante.fr"):
        add(store, address)
    start = AT - dt.timedelta(days=10)
    by_cn = _leaf(tmp_path, pki, "cn", cn="CN@ch.mssante.fr", not_before=start, days=365)
    by_san = _leaf(tmp_path, pki, "san", cn="dpi", san_email="san@ch.mssante.fr",
                   not_before=start, days=365)
    by_map = _leaf(tmp_path, pki, "map", cn="service-x", not_before=start, days=365)
    rules = BindingRules(mapping={"Service-X": "map@ch.mssante.fr"})
    report = import_paths(store=store, paths=[by_cn, by_san, by_map], at=AT, actor=ACTOR,
                          rules=rules)
    assert [[b.address for b in f.bound] for f in report.files] == [
        ["cn@ch.mssante.fr"], ["san@ch.mssante.fr"], ["map@ch.mssante.fr"]]
    # rules switched off: nothing bound
    other = _leaf(tmp_path, pki, "cn2", cn="cn@ch.mssante.fr", not_before=start, days=10)
    report = import_paths(store=store, paths=[other], at=AT, actor=ACTOR,
                          rules=BindingRules(rules=()))
    assert report.files[0].bound == ()


def test_binding_semantics(store: Store, pki: Path, tmp_path: Path) -> None:
    address = "app@ch.mssante.fr"
    add(store, address)
    old = _leaf(tmp_path, pki, "old", cn="old", not_before=AT - dt.timedelta(days=300),
                days=400)
    new = _leaf(tmp_path, pki, "new", cn="new", not_before=AT - dt.timedelta(days=1),
                days=1000)
    older = _leaf(tmp_path, pki, "older", cn="older", not_before=AT - dt.timedelta(days=900),
                  days=800)
    future = _leaf(tmp_path, pki, "future", cn="future", not_before=AT + dt.timedelta(days=5),
                   days=1200)

    def bind(path: Path) -> None:
        report = import_paths(store=store, paths=[path], at=AT, actor=ACTOR, mailbox=address)
        assert report.ok

    bind(old)
    assert _bindings(store, address) == {"old": BindingRole.CURRENT}
    bind(new)
    assert _bindings(store, address) == {"old": BindingRole.PREVIOUS, "new": BindingRole.CURRENT}
    bind(older)
    assert _bindings(store, address)["older"] is BindingRole.PREVIOUS
    bind(future)
    assert _bindings(store, address)["future"] is BindingRole.NEXT
    before = counts(store)
    bind(new)  # already bound: nothing changes
    assert counts(store) == before
    with store.sessions() as session:
        unbound = session.scalars(select(Binding.unbound_at).where(
            col(Binding.role) == BindingRole.PREVIOUS)).all()
    assert unbound == [AT, AT]


def test_trust_material_from_the_store(store: Store, pki: Path) -> None:
    import_paths(store=store, paths=[pki / "bundles" / "chain.p7b", pki / "crl",
                                     pki / "ca" / "UNKNOWN-ACR.pem"], at=AT, actor=ACTOR)
    with store.sessions() as session:
        prod = load_trust_material(session=session, environment=Environment.PRODUCTION)
        every = load_trust_material(session=session)
    assert len(prod.anchors) == 3
    assert len(prod.intermediates) == 6
    assert len(every.anchors) == 4  # the OTHER root serves only environment=None
    assert all(isinstance(der, bytes) for _, der in prod.crls)
    numbers = sorted(c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
                     for c, _ in prod.crls
        if c.issuer.rfc4514_string().startswith("CN=AC IGC-SANTE ELEMENTAIRE ORGANISATIONS,"))
    assert numbers == [100, 101]  # base and delta, the stale and forged ones left out
    assert prod.trust_store_findings == ()
