"""Mailboxes and structures: add (idNatStruct rules), list filters, show, archive."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from certmgr.errors import ConflictError, IdentifierError, InputError, NotFoundError
from certmgr.services.mailboxes import (
    MailboxSpec,
    add_mailbox,
    archive_mailbox,
    list_mailboxes,
    show_mailbox,
)
from certmgr.services.scan import scan
from certmgr.store.enums import BindingRole, MailboxEnvironment, MailboxStatus
from certmgr.store.models import AuditEvent, Structure
from certmgr.store.session import Store
from certmgr.testpki import PkiIndex

from .conftest import ACTOR, AT, SIRET, add, bind, seed_trust, trust_loader

FINESS = "1750712184"
BAD_FINESS = "1750712185"


def _spec(address: str = "app@ch.mssante.fr", idnat: str = SIRET, **kw: object) -> MailboxSpec:
    return MailboxSpec(address=address, idnat=idnat, organization="CH Test", **kw)  # type: ignore[arg-type]


def test_add_creates_the_structure_once(store: Store) -> None:
    first = add_mailbox(store=store, spec=_spec("A@CH.mssante.fr", department="2a",
                                                contacts=("x@ch.fr", "x@ch.fr")),
                        at=AT, actor=ACTOR)
    second = add_mailbox(store=store, spec=_spec("b@ch.mssante.fr"), at=AT, actor=ACTOR)
    assert first.structure_created
    assert not second.structure_created
    assert first.address == "a@ch.mssante.fr"
    with store.sessions() as session:
        (structure,) = session.exec(select(Structure)).all()
        actions = session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))).all()
    assert structure.idnat == SIRET
    assert structure.idnat_kind == 3
    assert structure.department == "Corse-du-Sud (2A)"
    assert actions == ["structure.add", "mailbox.add", "mailbox.add"]
    assert show_mailbox(store=store, address="a@ch.mssante.fr").contacts == ("x@ch.fr",)


def test_duplicate_address_is_refused(store: Store) -> None:
    add_mailbox(store=store, spec=_spec(), at=AT, actor=ACTOR)
    with pytest.raises(ConflictError, match="already exists"):
        add_mailbox(store=store, spec=_spec("APP@ch.mssante.fr"), at=AT, actor=ACTOR)


def test_bad_check_digit_is_refused_unless_forced(store: Store) -> None:
    with pytest.raises(IdentifierError, match=r"wrong check digit.*--force-idnat"):
        add_mailbox(store=store, spec=_spec(idnat=BAD_FINESS), at=AT, actor=ACTOR)
    added = add_mailbox(store=store, spec=_spec(idnat=BAD_FINESS), at=AT, actor=ACTOR,
                        force_idnat=True)
    assert added.idnat == BAD_FINESS


@pytest.mark.parametrize(("spec", "message"), [
    (_spec("not-an-address"), "not a valid e-mail address"),
    (_spec("a b@ch.fr"), "not a valid e-mail address"),
    (_spec(idnat="9123"), "unknown idNatStruct type digit"),
    (_spec(idnat="3123"), "SIRET"),
    (_spec(contacts=("nope",)), "not a valid e-mail contact"),
    (_spec(department="99"), "département"),
    (MailboxSpec(address="a@ch.fr", idnat=SIRET, organization="  "), "organization"),
])
def test_bad_input_is_refused(store: Store, spec: MailboxSpec, message: str) -> None:
    with pytest.raises(InputError, match=message):
        add_mailbox(store=store, spec=spec, at=AT, actor=ACTOR)
    assert list_mailboxes(store=store, include_archived=True) == ()


def test_list_filters(store: Store, pki: PkiIndex) -> None:
    seed_trust(store, pki)
    add(store, "ok@ch.mssante.fr", app="Radiologie")
    bind(store, "ok@ch.mssante.fr", "el-org-auth-valid", pki)
    add(store, "soon@ch.mssante.fr")
    bind(store, "soon@ch.mssante.fr", "el-org-auth-expiring-14d", pki)
    add(store, "other@ehpad.mssante.fr", idnat=FINESS, org="EHPAD Les Tilleuls",
        env=MailboxEnvironment.TEST)
    add(store, "gone@ch.mssante.fr")
    archive_mailbox(store=store, address="gone@ch.mssante.fr", at=AT, actor=ACTOR)
    scan(store=store, at=AT, actor=ACTOR, trust_loader=trust_loader(), processes=1)

    def names(**kw: object) -> list[str]:
        return [m.address.split("@")[0] for m in list_mailboxes(store=store, **kw)]  # type: ignore[arg-type]

    assert names() == ["ok", "other", "soon"]
    assert names(include_archived=True) == ["gone", "ok", "other", "soon"]
    assert names(statuses=[MailboxStatus.CRITICAL, MailboxStatus.NO_CERTIFICATE]) == [
        "other", "soon"]
    assert names(expiring_within=14) == ["soon"]
    assert names(expiring_within=13) == []
    assert names(structure=FINESS) == ["other"]
    assert names(search="tilleuls") == ["other"]
    assert names(search="RADIO") == ["ok"]
    (ok,) = list_mailboxes(store=store, search="ok@")
    assert ok.status is MailboxStatus.OK
    assert ok.not_after is not None


def test_show_gives_certificates_validation_and_history(store: Store, pki: PkiIndex) -> None:
    seed_trust(store, pki)
    add(store, "a@ch.mssante.fr")
    bind(store, "a@ch.mssante.fr", "el-org-auth-expired", pki, role=BindingRole.PREVIOUS)
    bind(store, "a@ch.mssante.fr", "el-org-auth-revoked", pki)
    scan(store=store, at=AT, actor=ACTOR, trust_loader=trust_loader(), processes=1)
    detail = show_mailbox(store=store, address=" A@ch.mssante.fr ")
    assert detail.summary.status is MailboxStatus.REVOKED
    assert [c.role for c in detail.certificates] == [BindingRole.CURRENT, BindingRole.PREVIOUS]
    assert detail.certificates[0].serial_hex == f"{pki['el-org-auth-revoked'].serial:X}"
    assert detail.last_validation is not None
    assert detail.last_validation["status"] == "REVOKED"
    assert [f["code"] for f in detail.last_validation["findings"]] == ["REVOKED"]
    assert len(detail.last_validation["path"]) == 3
    assert [e["action"] for e in detail.events] == ["mailbox.add"]
    assert detail.to_json()["certificates"][0]["role"] == "current"


def test_show_and_archive_unknown_mailbox(store: Store) -> None:
    with pytest.raises(NotFoundError, match=r"no mailbox x@y\.fr"):
        show_mailbox(store=store, address="x@y.fr")
    with pytest.raises(NotFoundError):
        archive_mailbox(store=store, address="x@y.fr", at=AT, actor=ACTOR)


def test_archive_is_recorded_once(store: Store) -> None:
    add(store, "a@ch.mssante.fr")
    assert archive_mailbox(store=store, address="a@ch.mssante.fr", at=AT, actor=ACTOR)
    assert not archive_mailbox(store=store, address="a@ch.mssante.fr", at=AT, actor=ACTOR)
    detail = show_mailbox(store=store, address="a@ch.mssante.fr")
    assert detail.summary.archived
    assert [e["action"] for e in detail.events] == ["mailbox.add", "mailbox.archive"]
