"""The operator console: routes between screens and wires them to a `Console`.

`make_app(settings=..., clock=...)` is the one way to build it, for `certmgr tui`,
`certmgr demo` and the tests alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from certmgr.clock import Clock, SystemClock
from certmgr.config import Settings
from certmgr.services.console import Console
from tui.commands import console_commands
from tui.screens.activity import AlertsScreen, JobsScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.detail import MailboxScreen
from tui.screens.help import HelpScreen
from tui.screens.mailboxes import MailboxesScreen
from tui.screens.tables import AuditScreen, TrustScreen

__all__ = ["CertmgrApp", "make_app", "run_console"]

DARK, LIGHT = "textual-dark", "textual-light"


class CertmgrApp(App[None]):
    """certmgr's console. Holds the `Console`, the clock and the actor; nothing else."""

    TITLE = "certmgr"
    SUB_TITLE = "IGC Santé certificates of MSSanté mailboxes"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, type[Screen[None]]]] = {  # type: ignore[assignment]
        "dashboard": DashboardScreen, "mailboxes": MailboxesScreen, "trust": TrustScreen,
        "alerts": AlertsScreen, "jobs": JobsScreen, "audit": AuditScreen}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "goto('dashboard')", "Dashboard"),
        Binding("m", "goto('mailboxes')", "Mailboxes"),
        Binding("t", "goto('trust')", "Trust/CRL"),
        Binding("a", "goto('alerts')", "Alerts", show=False),
        Binding("j", "goto('jobs')", "Jobs", show=False),
        Binding("l", "goto('audit')", "Audit", show=False),
        Binding("ctrl+t", "toggle_dark_theme", "Theme", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, *, console: Console, clock: Clock, actor: str,
                 browse_root: Path) -> None:
        super().__init__()
        self.inventory = console
        self.job_names: tuple[str, ...] = console.job_names
        """The jobs the console can run now and list (`certmgr.jobs.JOBS`, handed to the
        console by its entry point: the TUI imports no layer above the services)."""
        self.clock = clock
        self.actor = actor
        self.browse_root = browse_root
        self.generation = 0
        """Bumped by every action that changes the inventory (lists reload on return)."""
        self.theme = DARK

    def now(self) -> dt.datetime:
        return self.clock.now().replace(microsecond=0)

    def on_mount(self) -> None:
        self.switch_mode("dashboard")

    def on_unmount(self) -> None:
        self.inventory.close()

    def action_goto(self, mode: str) -> None:
        self.switch_mode(mode)

    def action_toggle_dark_theme(self) -> None:
        self.theme = LIGHT if self.theme == DARK else DARK

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def show_mailboxes(self, *, statuses: frozenset[str]) -> None:
        """The mailboxes screen, filtered on `statuses`."""
        await self.switch_mode("mailboxes")
        screen = self.screen
        if isinstance(screen, MailboxesScreen):
            screen.show_statuses(statuses)

    def open_mailbox(self, address: str) -> None:
        self.push_screen(MailboxScreen(address))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from console_commands(self, screen)


def make_app(*, settings: Settings, clock: Clock | None = None, actor: str = "operator",
             browse_root: Path | None = None, create: bool = False,
             console: Console | None = None) -> CertmgrApp:
    """The console over `settings` (the store opens on first read, in a worker).

    `console` is built by the entry point (`certmgr.cli.tui.make_console`), which hands
    the scheduler's planner and the job runner to the services; without it, a bare
    `Console(settings)`: no planned runs, no "run now"."""
    return CertmgrApp(console=console or Console(settings, create=create),
                      clock=clock or SystemClock(), actor=actor,
                      browse_root=browse_root or Path.cwd())


def run_console(*, settings: Settings, clock: Clock, actor: str,
                console: Console | None = None) -> None:
    """Run the console in the terminal until the operator quits (the CLI's entry)."""
    make_app(settings=settings, clock=clock, actor=actor, console=console).run()
