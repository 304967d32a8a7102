"""The command palette's entries: every screen, then every action of the current screen.

The actions come from the screen's own key bindings (`BINDINGS`), so the palette can
never miss one: each entry is titled by the binding's tooltip (or description), names
its key, and runs the same action as the key.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

if TYPE_CHECKING:
    from tui.app import CertmgrApp

__all__ = ["console_commands", "screen_actions"]

_SCREENS = (("dashboard", "Go to the dashboard", "Counts, expiries per month, CRLs, alerts"),
            ("mailboxes", "Go to the mailboxes", "Every mailbox, filterable"),
            ("trust", "Go to trust anchors & CRLs", "CA certificates and CRL freshness"),
            ("alerts", "Go to alerts", "Pending, sent, acknowledged"),
            ("jobs", "Go to jobs", "Next runs and last results"),
            ("audit", "Go to the audit log", "Every change, filterable"))


def screen_actions(screen: Screen[object]) -> list[Binding]:
    """The bindings of `screen`'s class that are actions of its own (not `app.`)."""
    return [b for b in Binding.make_bindings(type(screen).BINDINGS)
            if not b.action.startswith("app.") and (b.tooltip or b.description)]


def console_commands(app: CertmgrApp, screen: Screen[object]) -> Iterator[SystemCommand]:
    """What `CertmgrApp.get_system_commands` adds to Textual's own entries."""
    for mode, title, help_text in _SCREENS:
        yield SystemCommand(title, help_text, partial(app.action_goto, mode))
    yield SystemCommand("Toggle light/dark theme", "ctrl+t", app.action_toggle_dark_theme)
    yield SystemCommand("Show the key bindings", "?", app.action_help)
    context = getattr(screen, "palette_context", "")
    for binding in screen_actions(screen):
        title = binding.tooltip or binding.description
        yield SystemCommand(f"{title} ({context})" if context else title,
                            f"key {app.get_key_display(binding)}",
                            partial(screen.run_action, binding.action))
