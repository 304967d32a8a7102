"""Run the real `certmgr` entry point in-process and capture what it prints."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from certmgr.cli import run

FIXED = Path(__file__).resolve().parents[2] / "fixtures" / "pki" / "fixed"
FIXED_AT = "2025-06-01T12:00:00Z"


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


Invoke = Callable[..., Outcome]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Invoke:
    def invoke(*args: str | Path) -> Outcome:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            run([str(a) for a in args])
        captured = capsys.readouterr()
        code = info.value.code
        return Outcome(int(code) if isinstance(code, int) else 0, captured.out, captured.err)

    return invoke


@pytest.fixture
def pki() -> Path:
    if not (FIXED / "index.json").is_file():
        pytest.skip("fixture PKI not generated")
    return FIXED
