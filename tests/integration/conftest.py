"""A demo home built once per module by the real `certmgr demo`, copied for each test,
and the real entry point run in-process on it."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest

from certmgr.cli import run
from tests.support import Invoke, cli_runner

__all__ = ["PASSPHRASE", "Invoke"]

PASSPHRASE = "integration passphrase"


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`certmgr --home H demo --headless`, once: the demo inventory in `H/demo`."""
    home = tmp_path_factory.mktemp("template")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CERTMGR_DB", raising=False)
        with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as done:
            run(["--home", str(home), "demo", "--headless"])
    assert done.value.code == 0
    return home / "demo"


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo home (its SQLite file, its PKI)."""
    copy = tmp_path / "demo"
    shutil.copytree(demo_template, copy)
    return copy


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.delenv("CERTMGR_DB", raising=False)
    monkeypatch.delenv("CERTMGR_HOME", raising=False)
    monkeypatch.setenv("CERTMGR_PASSPHRASE", PASSPHRASE)
    return cli_runner(capsys)
