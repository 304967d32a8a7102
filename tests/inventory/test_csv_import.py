"""`mailbox import FILE.csv`: per-row report with line numbers, good rows kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from certmgr.errors import InputError
from certmgr.services.mailboxes import import_mailboxes_csv, list_mailboxes, show_mailbox
from certmgr.store.enums import MailboxEnvironment
from certmgr.store.session import Store

from .conftest import ACTOR, AT, SIRET, add

HEADER = "address;idnat;organization;department;application;contacts;environment\n"
GOOD_AND_BAD = (
    HEADER
    + f'a@ch.mssante.fr;{SIRET};Centre Hospitalier;75;DPI;"x@ch.fr; y@ch.fr";production\n'
    + "b@ch.mssante.fr;1750712185;Bad key;;;;\n"                              # line 3
    + f'"c@ch.mssante.fr";{SIRET};"CH ; multi\nline";;;;test\n'              # lines 4-5
    + "not an address;1750712184;EHPAD;;;;\n"                               # line 6
    + "\n"                                                                   # blank: skipped
    + f"A@ch.mssante.fr;{SIRET};dup;;;;\n"                                   # line 8
    + f"d@ch.mssante.fr;{SIRET};too;few\n"                                   # line 9
    + f"e@ch.mssante.fr;{SIRET};x;;;;staging\n"                              # line 10
    + "f@ch.mssante.fr;1750712184;EHPAD Les Tilleuls;2B;;;\n"                # line 11
)


def _write(tmp_path: Path, text: str | bytes, name: str = "boxes.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


def test_good_rows_are_kept_and_bad_rows_reported(store: Store, tmp_path: Path) -> None:
    report = import_mailboxes_csv(store=store, path=_write(tmp_path, GOOD_AND_BAD), at=AT,
                                  actor=ACTOR)
    outcome = {r.line: (r.added, r.reason) for r in report.rows}
    assert sorted(outcome) == [2, 3, 4, 6, 8, 9, 10, 11]
    assert [line for line, (added, _) in outcome.items() if added] == [2, 4, 11]
    assert "wrong check digit" in str(outcome[3][1])
    assert "not a valid e-mail address" in str(outcome[6][1])
    assert "already exists" in str(outcome[8][1])
    assert "4 cells, the header has 7" in str(outcome[9][1])
    assert "production or test" in str(outcome[10][1])
    assert (report.added, report.rejected, report.delimiter) == (3, 5, ";")
    assert [m.address for m in list_mailboxes(store=store)] == [
        "a@ch.mssante.fr", "c@ch.mssante.fr", "f@ch.mssante.fr"]
    a = show_mailbox(store=store, address="a@ch.mssante.fr")
    assert a.contacts == ("x@ch.fr", "y@ch.fr")
    assert a.department == "Paris (75)"
    c = show_mailbox(store=store, address="c@ch.mssante.fr")
    assert c.summary.environment is MailboxEnvironment.TEST
    assert c.summary.structure_name == "Centre Hospitalier"  # the structure keeps its name
    assert report.to_json()["rows"][1] == {
        "line": 3, "address": "b@ch.mssante.fr", "status": "rejected",
        "reason": outcome[3][1], "structure_created": False}


def test_bom_comma_and_column_order(store: Store, tmp_path: Path) -> None:
    text = f"\ufeffOrganization,Address,IDNAT\nClinique,x@cl.mssante.fr,{SIRET}\n"
    report = import_mailboxes_csv(store=store, path=_write(tmp_path, text), at=AT, actor=ACTOR)
    assert (report.added, report.delimiter, report.encoding) == (1, ",", "utf-8")
    assert list_mailboxes(store=store)[0].structure_name == "Clinique"


def test_windows_1252_falls_back(store: Store, tmp_path: Path) -> None:
    text = f"address;idnat;organization\nx@cl.mssante.fr;{SIRET};Clinique Sainte-Thérèse\n"
    path = _write(tmp_path, text.encode("cp1252"))
    report = import_mailboxes_csv(store=store, path=path, at=AT, actor=ACTOR)
    assert report.encoding == "cp1252"
    assert list_mailboxes(store=store)[0].structure_name == "Clinique Sainte-Thérèse"


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty CSV file"),
    (b"address;name\n", "unknown column"),
    (b"address;idnat\n", "missing column"),
    (b"\x81\x8d\x8f\x90\x9d;\n", "UTF-8 or Windows-1252"),
])
def test_unusable_files_import_nothing(store: Store, tmp_path: Path, content: bytes,
                                       message: str) -> None:
    with pytest.raises(InputError, match=message):
        import_mailboxes_csv(store=store, path=_write(tmp_path, content), at=AT, actor=ACTOR)
    assert list_mailboxes(store=store) == ()


def test_missing_file(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        import_mailboxes_csv(store=store, path=tmp_path / "nope.csv", at=AT, actor=ACTOR)


def test_existing_mailbox_stays_untouched(store: Store, tmp_path: Path) -> None:
    add(store, "a@ch.mssante.fr", app="Original")
    text = f"address;idnat;organization;application\na@ch.mssante.fr;{SIRET};X;Changed\n"
    report = import_mailboxes_csv(store=store, path=_write(tmp_path, text), at=AT, actor=ACTOR)
    assert report.rejected == 1
    assert list_mailboxes(store=store)[0].application == "Original"
