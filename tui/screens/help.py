"""The key bindings, in one place."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HELP_KEYS", "HelpScreen"]

HELP_KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Everywhere", (("d", "Dashboard"), ("m", "Mailboxes"), ("t", "Trust anchors & CRLs"),
                    ("a", "Alerts"), ("j", "Jobs"), ("l", "Audit log"),
                    ("ctrl+p", "Command palette (every action)"),
                    ("ctrl+t", "Light / dark theme"), ("?", "This help"), ("q", "Quit"))),
    ("Dashboard", (("1-7", "The mailboxes of a status (the key beside its count)"),
                   ("r", "Refresh"))),
    ("Mailboxes", (("/", "Filter as you type"),
                   ("1-7", ("Quick filter: OK, Renew soon, Critical, Expired, Revoked, "
                           "Invalid, No certificate (toggle)")),
                   ("0", "All statuses"), ("s", "Next sort column (or click a header)"),
                   ("Enter", "Open the mailbox"), ("r", "Reload"),
                   ("Esc", "Back to the table (from the filter)"))),
    ("Mailbox", (("g", "Generate a key and CSR"), ("o", "Mark the certificate as ordered"),
                 ("i", "Import the issued certificate (file picker)"),
                 ("e", "Export (asks to confirm, then a passphrase)"),
                 ("k", "Acknowledge its alerts (asks to confirm)"),
                 ("x", "Archive (asks to confirm)"), ("r", "Reload"), ("Esc", "Back"))),
    ("Trust & CRLs", (("r", "Refresh"),)),
    ("Alerts", (("k / Enter", "Acknowledge the selected alert (asks to confirm)"),
                ("z", "Acknowledge and snooze until a date (a form)"),
                ("f", "Show all / pending / sent / failed / acknowledged"),
                ("r", "Refresh"))),
    ("Jobs", (("n / Enter", "Run the selected job now"), ("r", "Refresh"))),
    ("Audit log", (("/", "Filter as you type"), ("Esc", "Back to the table (from the filter)"),
                   ("r", "Refresh"))),
    ("Tables", (("↑ ↓ PgUp PgDn", "Move"), ("Home / End", "First / last row"),
                ("click", "Select (double click: open); on a header: sort"))),
)
"""Every key, by screen (`tests/tui/test_keys.py` checks that no binding is missing)."""


class HelpScreen(ModalScreen[None]):
    """Every key binding of the console."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]  # noqa: RUF012

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for section, keys in HELP_KEYS:
            table.add_row(f"[b u]{section}[/]", "")
            for key, what in keys:
                table.add_row(key, what)
            table.add_row("", "")
        with VerticalScroll(classes="dialog tall"):
            yield Static("certmgr — keys", classes="question")
            yield Static(table)
