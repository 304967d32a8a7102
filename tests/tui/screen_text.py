"""Plain-text screenshots for deterministic snapshot tests."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App

SNAPSHOTS = Path(__file__).parent / "snapshots"


def screen_text(app: App[Any]) -> str:
    """The characters of the current screen, one line per row, trailing spaces removed."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return "\n".join(line.rstrip() for line in console.export_text(styles=False).splitlines())


def check_snapshot(name: str, text: str) -> None:
    """Compare with `snapshots/<name>.txt`; CERTMGR_UPDATE_SNAPSHOTS=1 rewrites it."""
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("CERTMGR_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        if os.environ.get("CERTMGR_UPDATE_SNAPSHOTS") != "1":
            raise AssertionError(f"new snapshot {path.name} written: check it and commit it")
        return
    expected = path.read_text(encoding="utf-8").rstrip("\n")
    assert text == expected, f"screen differs from {path.name} (CERTMGR_UPDATE_SNAPSHOTS=1)"
