"""The headless core never loads Textual; the pure PKI layer never loads the store or network."""

from __future__ import annotations

import subprocess
import sys

import pytest

_CHECK = """
import importlib, sys
for name in {modules!r}:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})
print(','.join(bad))
"""


def _loaded(modules: list[str], forbidden: set[str]) -> list[str]:
    code = _CHECK.format(modules=modules, forbidden=forbidden)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    out = proc.stdout.strip()
    return out.split(",") if out else []


@pytest.mark.parametrize(
    "module",
    ["certmgr.cli", "certmgr.pki.findings", "certmgr.config", "certmgr.clock", "certmgr.errors"],
)
def test_core_does_not_load_textual(module: str) -> None:
    assert _loaded([module], {"textual", "tui"}) == []


def test_cli_help_stays_light() -> None:
    """`certmgr --help` must not pay for the database layer or Textual."""
    code = (
        "import sys\nfrom certmgr.cli import main\n"
        "try:\n    main.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "print('LOADED=' + ','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'textual', 'sqlalchemy', 'sqlmodel', 'alembic'})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert proc.stdout.strip().splitlines()[-1] == "LOADED="
