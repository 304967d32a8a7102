"""Run the real `certmgr` entry point in-process and capture what it prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import Invoke, cli_runner, require_fixed_pki

__all__ = ["FIXED_AT", "Invoke"]

FIXED_AT = "2025-06-01T12:00:00Z"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Invoke:
    return cli_runner(capsys)


@pytest.fixture
def pki() -> Path:
    return require_fixed_pki()
