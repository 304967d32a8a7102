"""The command palette's entries: every screen and every action, by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.screen import Screen

from tui.presenters import FILTER_KEYS, status_label
from tui.screens.detail import MailboxScreen
from tui.screens.mailboxes import MailboxesScreen
from tui.screens.tables import AlertsScreen, JobsScreen

if TYPE_CHECKING:
    from tui.app import CertmgrApp

__all__ = ["console_commands"]

_SCREENS = (("dashboard", "Go to the dashboard", "Counts, expiries per month, CRLs, alerts"),
            ("mailboxes", "Go to the mailboxes", "Every mailbox, filterable"),
            ("trust", "Go to trust anchors & CRLs", "CA certificates and CRL freshness"),
            ("alerts", "Go to alerts", "Sent, pending, acknowledged"),
            ("jobs", "Go to jobs", "Next runs and last results"),
            ("audit", "Go to the audit log", "Every change, filterable"))
_MAILBOX_ACTIONS = (("csr", "Generate a CSR", "New key and CSR for this mailbox"),
                    ("ordered", "Mark ordered", "The certificate was ordered on the ANS portal"),
                    ("import_cert", "Import the issued certificate", "Pick the file ANS sent"),
                    ("export", "Export certificate and key", "PKCS#12 with a passphrase"),
                    ("acknowledge", "Acknowledge its alerts", "Stop reminding about them"),
                    ("archive", "Archive this mailbox", "No longer scanned nor listed"))


def console_commands(app: CertmgrApp, screen: Screen[object]) -> Iterator[SystemCommand]:
    """What `CertmgrApp.get_system_commands` adds to Textual's own entries."""
    for mode, title, help_text in _SCREENS:
        yield SystemCommand(title, help_text, lambda m=mode: app.action_goto(m))
    yield SystemCommand("Toggle light/dark theme", "ctrl+t", app.action_toggle_dark_theme)
    yield SystemCommand("Show the key bindings", "?", app.action_help)
    if isinstance(screen, MailboxesScreen):
        for status in FILTER_KEYS.values():
            yield SystemCommand(f"Filter: {status_label(status)}", "Toggle this status",
                                lambda s=status: screen.action_quick(s))
        yield SystemCommand("Filter: all statuses", "Clear the quick filter",
                            lambda: screen.action_quick(""))
        yield SystemCommand("Reload the mailboxes", "r", screen.action_reload)
    if isinstance(screen, AlertsScreen):
        yield SystemCommand("Acknowledge the selected alert", "k", screen.action_acknowledge)
        yield SystemCommand("Alerts: pending only / all", "p", screen.action_toggle_pending)
    if isinstance(screen, JobsScreen):
        yield SystemCommand("Run the selected job now", "n", screen.action_run_now)
    if isinstance(screen, MailboxScreen):
        for action, title, help_text in _MAILBOX_ACTIONS:
            yield SystemCommand(f"{title} ({screen.address})", help_text,
                                getattr(screen, f"action_{action}"))
