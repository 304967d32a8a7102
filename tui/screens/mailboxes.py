"""Every mailbox in one table: sortable, filter-as-you-type, quick filters per status.

Responsive over 10,000 rows: the rows come once from a worker with a lower-cased
search key each; filtering and sorting run in Python over those values, and the
`RowTable` draws only the rows on screen (Line API), so a keystroke costs the filter
of a Python list, not the rebuilding of a widget per row (bench/tui_bench.py).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Input, Static

from certmgr.services.console import MailboxRow
from tui.messages import Loaded
from tui.presenters import (
    FILTER_KEYS,
    days_left_text,
    filter_rows,
    short_issuer,
    sort_rows,
    status_label,
    status_style,
)
from tui.rowtable import Column, RowTable
from tui.screens.base import ConsoleScreen

__all__ = ["COLUMNS", "MailboxesScreen", "mailbox_cells"]

COLUMNS = (Column("Address", "address", 36, 22),
           Column("Structure", "structure", 24, 10, drop=3),
           Column("Status", "status", 14, 8),
           Column("Days left", "days", 9, 7, justify="right"),
           Column("Issuer", "issuer", 26, 10, drop=5),
           Column("Renewal", "renewal", 10, 8, drop=4))


def mailbox_cells(row: MailboxRow) -> tuple[Text, ...]:
    """The cells of one mailbox line (Text, never markup: data is shown as it is)."""
    style = status_style(row.status)
    return (Text(row.address), Text(row.structure),
            Text(status_label(row.status), style=style),
            Text(days_left_text(row.days_left), style=style),
            Text(short_issuer(row.issuer)), Text(row.renewal, style="cyan"))


class MailboxesScreen(ConsoleScreen):
    """The mailbox list; Enter opens a mailbox."""

    BINDINGS = [  # noqa: RUF012 - Textual's declaration style
        Binding("slash", "focus_filter", "Filter", tooltip="Filter the mailboxes as you type"),
        Binding("escape", "leave_filter", "Back to table", show=False,
                tooltip="Leave the filter for the table"),
        *(Binding(k, f"quick('{s}')", f"{status_label(s)}", show=False,
                  tooltip=f"Filter: {status_label(s)} (toggle)")
          for k, s in FILTER_KEYS.items()),
        Binding("0", "quick('')", "All statuses", show=False,
                tooltip="Filter: all statuses"),
        Binding("s", "cycle_sort", "Sort", tooltip="Sort by the next column"),
        Binding("r", "reload", "Reload", tooltip="Reload the mailboxes"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: tuple[MailboxRow, ...] = ()
        self.shown: list[MailboxRow] = []
        self.statuses: frozenset[str] = frozenset()
        self.sort_key = "address"
        self.sort_reverse = False
        self._generation = -1

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="Filter: address, structure, idNatStruct, issuer…  "
                                "(/ to type, 1-7 status, 0 all)", id="filter")
        yield Static("Loading…", id="summary")
        yield RowTable(COLUMNS, mailbox_cells, id="mailboxes")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RowTable).focus()

    def refresh_data(self) -> None:
        # Reload only when an action changed the inventory since the last load: coming
        # back from a mailbox must not refetch 10,000 rows for nothing.
        if self._generation != self.console_app.generation:
            self.action_reload()

    def action_reload(self) -> None:
        app = self.console_app
        self._generation = app.generation
        self.read("mailboxes", app.inventory.mailbox_rows)

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.what == "mailboxes":
            self.rows = message.value
            self.apply()

    def apply(self) -> None:
        """Filter, sort and refill the table from `rows` (synchronous, fast)."""
        text = self.query_one("#filter", Input).value
        matched = filter_rows(self.rows, text=text, statuses=self.statuses)
        if self.sort_key != "address" or self.sort_reverse:
            matched = sort_rows(matched, key=self.sort_key, reverse=self.sort_reverse)
        self.shown = matched
        self.query_one(RowTable).set_rows(matched)
        self.query_one("#summary", Static).update(self._summary(len(matched)))

    def _summary(self, matched: int) -> Text:
        text = Text()
        text.append(f"{matched} of {len(self.rows)} mailboxes", style="bold")
        if self.statuses:
            text.append("  status: ")
            for s in sorted(self.statuses):
                text.append(status_label(s), style=status_style(s))
        arrow = "↓" if not self.sort_reverse else "↑"
        text.append(f"  sorted by {self.sort_key} {arrow}", style="dim")
        return text

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self.apply()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.query_one(RowTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_leave_filter(self) -> None:
        self.query_one(RowTable).focus()

    def show_statuses(self, statuses: frozenset[str]) -> None:
        """Show only `statuses` (the dashboard's 1-7), the text filter cleared."""
        self.statuses = statuses
        self.query_one("#filter", Input).value = ""
        self.apply()

    def action_quick(self, status: str) -> None:
        """Toggle a status in the quick filter ('' clears it)."""
        if not status:
            self.statuses = frozenset()
        elif status in self.statuses:
            self.statuses = self.statuses - {status}
        else:
            self.statuses = self.statuses | {status}
        self.apply()

    def action_cycle_sort(self) -> None:
        keys = [c.key for c in COLUMNS]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self.sort_reverse = False
        self.apply()

    @on(RowTable.HeaderSelected)
    def _header(self, event: RowTable.HeaderSelected) -> None:
        key = event.key
        self.sort_reverse = not self.sort_reverse if key == self.sort_key else False
        self.sort_key = key
        self.apply()

    @on(RowTable.RowSelected)
    def _open(self, event: RowTable.RowSelected) -> None:
        index = event.index
        if 0 <= index < len(self.shown):
            self.console_app.open_mailbox(self.shown[index].address)
