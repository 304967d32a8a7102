"""Migrations: empty database to head, the revision checks, open_store's creation rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, select

from certmgr.cli import main
from certmgr.config import Settings
from certmgr.errors import MigrationRequiredError, NotFoundError
from certmgr.store import (
    migrate,
    models_alerts,  # noqa: F401 - registers the monitoring tables
    models_probes,  # noqa: F401 - registers the probe tables
)
from certmgr.store.audit import append_event, verify_chain
from certmgr.store.engine import make_engine
from certmgr.store.migrate import (
    alembic_config,
    current_revision,
    ensure_current,
    head_revision,
    upgrade,
)
from certmgr.store.models import AuditEvent, Mailbox, StoreModel
from certmgr.store.session import open_store
from certmgr.store.testing import T0, sample_mailbox, sample_structure

_TABLES = {
    "alembic_version", "audit_event", "binding", "ca_certificate", "certificate", "crl",
    "key_record", "mailbox", "structure", "validation_result", "validation_run",
    "alert_sent", "alert_state", "job_run", "service_lease", "renewal", "revocation_code",
    "mailbox_endpoint", "probe_result",
}

_REVISION_0002 = """
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailbox") as batch_op:
        batch_op.add_column(sa.Column("note", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailbox") as batch_op:
        batch_op.drop_column("note")
"""


class TestUpgrade:
    """From an empty database to head."""

    def test_empty_to_head_creates_every_table(self, bare_engine: Engine) -> None:
        assert current_revision(bare_engine) is None
        assert upgrade(bare_engine) == head_revision()
        assert set(inspect(bare_engine).get_table_names()) == _TABLES
        ensure_current(bare_engine)

    def test_schema_matches_the_models(self, engine: Engine) -> None:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": True,
                # APScheduler creates and owns its job store table.
                "include_name": lambda name, type_, _parents: not (
                    type_ == "table" and name == "apscheduler_jobs"),
            })
            assert compare_metadata(context, StoreModel.metadata) == []

    def test_upgrade_twice_is_a_no_op(self, engine: Engine) -> None:
        assert upgrade(engine) == head_revision()

    def test_upgrade_from_a_url_and_another_cwd(self, db_url: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        assert upgrade(db_url) == head_revision()

    def test_a_later_revision_upgrades_an_older_database(self, engine: Engine,
                                                         tmp_path: Path) -> None:
        scripts = tmp_path / "migrations"
        shutil.copytree(Path(migrate.__file__).parent / "migrations", scripts)
        head = head_revision()  # the fake revision follows whatever the real head is
        (scripts / "versions" / "9001_note.py").write_text(_REVISION_0002.format(head=head),
                                                           encoding="utf-8")
        newer = alembic_config(script_location=scripts)
        with pytest.raises(MigrationRequiredError) as caught:
            ensure_current(engine, config=newer)
        expected = f"is at revision {head}, certmgr needs 9001: run `certmgr db upgrade`"
        assert expected in str(caught.value)
        assert upgrade(engine, config=newer) == "9001"
        ensure_current(engine, config=newer)
        assert "note" in {c["name"] for c in inspect(engine).get_columns("mailbox")}


class TestEnsureCurrent:
    """Commands refuse a database that is not at this certmgr's revision."""

    def test_empty_database(self, bare_engine: Engine) -> None:
        with pytest.raises(MigrationRequiredError, match=r"no certmgr schema.*certmgr db upgrade"):
            ensure_current(bare_engine)

    def test_unknown_newer_revision(self, engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
        with pytest.raises(MigrationRequiredError, match="unknown to this certmgr"):
            ensure_current(engine)

    def test_message_hides_the_password(self, bare_engine: Engine) -> None:
        with pytest.raises(MigrationRequiredError) as caught:
            ensure_current(bare_engine)
        password = bare_engine.url.password
        if password:
            assert f":{password}@" not in str(caught.value)
            assert ":***@" in str(caught.value)
        assert "database at " in str(caught.value)


class TestOpenStore:
    """open_store(create=True) only creates an empty SQLite file in the home directory."""

    def test_creates_empty_home_sqlite(self, tmp_path: Path) -> None:
        home = tmp_path / "home"
        settings = Settings(home=home, db_url=f"sqlite:///{home / 'certmgr.sqlite3'}")
        with pytest.raises(NotFoundError):
            open_store(settings).close()
        assert not (home / "certmgr.sqlite3").exists()
        with open_store(settings, create=True) as store:
            assert current_revision(store.engine) == head_revision()

    def test_never_creates_outside_home(self, tmp_path: Path) -> None:
        settings = Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'other.db'}")
        with pytest.raises(MigrationRequiredError, match="certmgr db upgrade"):
            open_store(settings, create=True)

    def test_never_upgrades_a_database_with_tables(self, tmp_path: Path) -> None:
        home = tmp_path / "home"
        url = f"sqlite:///{home / 'certmgr.sqlite3'}"
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE legacy (id INTEGER)"))
        engine.dispose()
        with pytest.raises(MigrationRequiredError):
            open_store(Settings(home=home, db_url=url), create=True)

    def test_postgresql_is_never_created(self, db_url: str, tmp_path: Path) -> None:
        if not db_url.startswith("postgresql"):
            pytest.skip("PostgreSQL only")
        with pytest.raises(MigrationRequiredError):
            open_store(Settings(home=tmp_path, db_url=db_url), create=True)

    def test_opens_a_current_database(self, engine: Engine, db_url: str, tmp_path: Path) -> None:
        with open_store(Settings(home=tmp_path / "elsewhere", db_url=db_url)) as store:
            assert "***" in store.url or "@" not in store.url
            with store.transaction() as session:
                assert session.execute(text("SELECT 1")).scalar_one() == 1


def test_alembic_ini_ships_inside_the_package() -> None:
    config = alembic_config()
    assert config.config_file_name is not None
    assert Path(config.config_file_name).is_file()
    location = config.get_main_option("script_location")
    assert location is not None
    assert Path(location, "env.py").is_file()


def _earlier_revisions() -> list[str]:
    """Every real revision but the head, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))][:-1]


@pytest.mark.parametrize("previous", _earlier_revisions())
def test_a_database_of_an_earlier_release_upgrades_with_its_rows(
        bare_engine: Engine, db_url: str, tmp_path: Path, previous: str) -> None:
    """A database left by an earlier certmgr (each real revision, with a structure, a
    mailbox and an audit event in it): commands refuse it and name `certmgr db upgrade`;
    that command brings it to head, rows kept, and it opens again."""
    assert upgrade(bare_engine, revision=previous) == previous
    with Session(bare_engine) as session:  # tables unchanged since 0001
        structure = sample_structure()
        session.add(structure)
        session.flush()
        assert structure.id is not None
        session.add(sample_mailbox(structure.id))
        append_event(session, actor="tester", action="mailbox.add", at=T0,
                     object_type="mailbox", object_id="app@clinique.mssante.fr")
        session.commit()
    settings = Settings(home=tmp_path / "home", db_url=db_url)
    with pytest.raises(MigrationRequiredError,
                       match=f"is at revision {previous}, certmgr needs {head_revision()}: "
                             "run `certmgr db upgrade`"):
        open_store(settings)
    done = CliRunner().invoke(main, ["--home", str(settings.home), "--db", db_url, "db",
                                     "upgrade", "--json"],
                              standalone_mode=False, catch_exceptions=False)
    assert done.return_value == 0
    assert json.loads(done.stdout)["from"] == previous
    assert json.loads(done.stdout)["to"] == head_revision()
    with open_store(settings) as store, store.sessions() as session:
        (mailbox,) = session.scalars(select(Mailbox)).all()
        assert (mailbox.address, mailbox.environment) == ("app@clinique.mssante.fr", "test")
        assert mailbox.structure.name == "Clinique 1"
        assert [e.action for e in session.scalars(select(AuditEvent))] == ["mailbox.add"]
        assert verify_chain(session).ok
