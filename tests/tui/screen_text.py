"""Plain-text screenshots for deterministic snapshot tests, and the Pilot helpers the
console tests share."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

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


async def settle(app: App[Any], pilot: Pilot[Any]) -> None:
    """Let screens mount, their workers finish and the posted messages be handled."""
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


def errors(app: App[Any]) -> list[str]:
    """The error notifications shown so far."""
    return [str(n.message) for n in app._notifications if n.severity == "error"]


def notes(app: App[Any]) -> list[str]:
    """Every notification shown so far."""
    return [str(n.message) for n in app._notifications]


async def reveal(app: App[Any], pilot: Pilot[Any], selector: str) -> None:
    """Scroll the current screen until the widget `selector` is in view, as an operator
    scrolls down to it."""
    app.screen.query_one(selector).scroll_visible(animate=False, immediate=True)
    await pilot.pause()
    await pilot.pause()


def flowing(text: str) -> str:
    """The screen's words with card borders and line ends taken out, so that a value the
    layout wrapped over two lines reads as one."""
    return " ".join(" ".join(line.strip(" │╭╮╰╯─▏▎▊").split()) for line in text.splitlines())
