"""Every key of every screen is in the command palette (and runs from it) and on the help
screen; the palette's entries do what the keys do."""

from __future__ import annotations

import pytest
from textual.binding import Binding
from textual.screen import Screen

from certmgr.store.session import Store
from tui.app import CertmgrApp
from tui.commands import screen_actions
from tui.screens.help import HELP_KEYS, HelpScreen
from tui.screens.mailboxes import MailboxesScreen

from .conftest import seed_alert
from .screen_text import screen_text, settle

SIZE = (120, 36)
ADDRESS = "dpi@clinique-bellevue.mssante.fr"
MODES = ("dashboard", "mailboxes", "trust", "alerts", "jobs", "audit")
# How the help screen writes a binding's key, and under which section.
KEY_TEXT = {"slash": "/", "question_mark": "?", "escape": "Esc", "enter": "Enter"}
SECTIONS = {"dashboard": "Dashboard", "mailboxes": "Mailboxes", "trust": "Trust & CRLs",
            "alerts": "Alerts", "jobs": "Jobs", "audit": "Audit log", "mailbox": "Mailbox"}


def help_keys(section: str) -> set[str]:
    """The keys a help section lists ('k / Enter' is two; '1-7' is 1 to 7)."""
    keys: set[str] = set()
    for key, _ in dict(HELP_KEYS)[section]:
        if key == "1-7":
            keys.update(str(i) for i in range(1, 8))
        else:
            keys.update(part.strip() for part in key.split(" / "))
    return keys


def shown_key(binding: Binding) -> str:
    return KEY_TEXT.get(binding.key, binding.key)


async def screens(app: CertmgrApp, pilot: object) -> list[tuple[str, Screen[object]]]:
    """Each screen of the console, visited (the mailbox detail last)."""
    out: list[tuple[str, Screen[object]]] = []
    for mode in MODES:
        app.switch_mode(mode)
        await settle(app, pilot)  # type: ignore[arg-type]
        out.append((mode, app.screen))
    app.open_mailbox(ADDRESS)
    await settle(app, pilot)  # type: ignore[arg-type]
    out.append(("mailbox", app.screen))
    return out


@pytest.mark.asyncio
async def test_every_binding_is_in_the_palette_and_the_help(app: CertmgrApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        everywhere = help_keys("Everywhere")
        for binding in Binding.make_bindings(app.BINDINGS):
            assert shown_key(binding) in everywhere, binding
        for name, screen in await screens(app, pilot):
            titles = {c.title for c in app.get_system_commands(screen)}
            if name == "alerts":
                assert "Acknowledge the selected alert and snooze it until a date" in titles
            if name == "mailbox":
                assert f"Generate a key and CSR ({ADDRESS})" in titles
            assert {"Go to the mailboxes", "Go to alerts", "Go to jobs", "Go to the audit log",
                    "Toggle light/dark theme", "Show the key bindings"} <= titles
            actions = screen_actions(screen)
            assert actions, name
            listed = help_keys(SECTIONS[name])
            for binding in actions:
                title = binding.tooltip or binding.description
                if name == "mailbox":
                    title = f"{title} ({ADDRESS})"
                assert title in titles, (name, binding)
                assert shown_key(binding) in listed, (name, binding)


@pytest.mark.asyncio
async def test_a_palette_entry_runs_the_action_of_its_key(app: CertmgrApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("m")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, MailboxesScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Filter: Expired", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, MailboxesScreen)  # the palette closed
        assert screen.statuses == frozenset({"EXPIRED"})
        assert [r.address for r in screen.shown] == ["urgences@chu-exemple.mssante.fr"]


@pytest.mark.asyncio
async def test_help_lists_the_keys_and_closes(app: CertmgrApp, seeded: Store) -> None:
    seed_alert(seeded, "radio@imagerie-nantes.mssante.fr")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "Command palette (every action)" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
