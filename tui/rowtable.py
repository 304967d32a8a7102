"""A table that renders only the rows on screen (Textual's Line API).

`DataTable` builds a row object per row: refilling it with 10,000 rows on every
keystroke of a filter costs far more than the 100 ms budget. `RowTable` holds a plain
sequence of values and a function that turns one value into its cells; `render_line`
asks for the cells of the (at most ~40) visible rows only, so `set_rows` is O(1) and
a filter costs what filtering the Python list costs.

Keys: up/down, page up/down, home/end move the cursor; Enter posts `RowSelected`.
Mouse: a click moves the cursor (a double click opens the row); a click on the header
posts `HeaderSelected` with the column's key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["Column", "RowTable", "fit_columns"]


@dataclass(frozen=True, slots=True)
class Column:
    """A column: `width` when there is room, never under `min_width`; when the screen
    is too narrow, the columns with the highest `drop` go first (0: never dropped)."""

    label: str
    key: str
    width: int
    min_width: int
    drop: int = 0
    justify: str = "left"


def fit_columns(columns: Sequence[Column], total: int) -> list[tuple[Column, int]]:
    """The columns that fit in `total` cells (one separator cell between two) and their
    widths: the first column takes what is left over; when short, the columns with the
    highest `drop` shrink to their minimum first."""
    shown = list(columns)
    while len(shown) > 1 and sum(c.min_width for c in shown) + len(shown) - 1 > total:
        shown.remove(max(shown, key=lambda c: c.drop))
    widths = [c.width for c in shown]
    excess = sum(widths) + len(shown) - 1 - total
    # The most droppable columns give up room first; the never-dropped ones last.
    for index in sorted(range(len(shown)), key=lambda i: -shown[i].drop):
        if excess <= 0:
            break
        take = min(excess, widths[index] - shown[index].min_width)
        widths[index] -= take
        excess -= take
    if excess < 0 or len(shown) == 1:
        widths[0] = max(1, widths[0] - excess)
    return list(zip(shown, widths, strict=True))


class RowTable(ScrollView, can_focus=True):
    """Rows of any values, drawn by `cells(value)`; the header stays on the first line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "move(-1000000000)", "First", show=False),
        Binding("end", "move(1000000000)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"rowtable--header", "rowtable--cursor",
                                             "rowtable--odd"}
    DEFAULT_CSS = """
    RowTable { height: 1fr; overflow-x: hidden; overflow-y: auto; }
    RowTable > .rowtable--header { text-style: bold; background: $panel; color: $text-accent; }
    RowTable > .rowtable--cursor { background: $block-cursor-blurred-background; }
    RowTable:focus > .rowtable--cursor { background: $block-cursor-background;
                                        color: $block-cursor-foreground; text-style: bold; }
    RowTable > .rowtable--odd { background: $surface-lighten-1 30%; }
    """

    cursor_row: reactive[int] = reactive(0)

    class RowSelected(Message):
        """Enter (or a double click) on row `index` of the current rows."""

        def __init__(self, table: RowTable, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

    class HeaderSelected(Message):
        """A click on the header of column `key`."""

        def __init__(self, table: RowTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

    def __init__(self, columns: Sequence[Column], cells: Callable[[Any], Sequence[Text]],
                 *, id: str | None = None) -> None:  # noqa: A002 - Textual's own name
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.cells = cells
        self.rows: Sequence[Any] = ()
        self._fitted: tuple[int, list[tuple[int, Column, int]]] = (-1, [])

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def set_rows(self, rows: Sequence[Any]) -> None:
        """Show `rows` (kept by reference, not copied): the cursor goes back to the top."""
        self.rows = rows
        self.cursor_row = 0
        self.virtual_size = Size(self.scrollable_content_region.width, len(rows) + 1)
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.rows) + 1)

    # ------------------------------------------------------------------ drawing
    def _layout(self, width: int) -> list[tuple[int, Column, int]]:
        if self._fitted[0] != width:
            self._fitted = (width, [(self.columns.index(c), c, size)
                                    for c, size in fit_columns(self.columns, width)])
        return self._fitted[1]

    def _line(self, values: Sequence[Text] | None, style: Style, width: int) -> Strip:
        line = Text(style=style, no_wrap=True, end="")
        for i, (position, column, size) in enumerate(self._layout(width)):
            if i:
                line.append(" ")
            cell = Text(column.label) if values is None else values[position].copy()
            cell.truncate(size, overflow="ellipsis")
            if column.justify == "right":
                line.append(" " * (size - cell.cell_len))
                line.append_text(cell)
            else:
                line.append_text(cell)
                line.append(" " * (size - cell.cell_len))
        line.truncate(width, pad=True)
        return Strip(list(line.render(self.app.console)), width)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            return self._line(None, base + self.get_component_rich_style("rowtable--header"),
                              width)
        index = self.scroll_offset.y + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, base)
        style = base
        if index % 2:
            style += self.get_component_rich_style("rowtable--odd")
        if index == self.cursor_row:
            style += self.get_component_rich_style("rowtable--cursor")
        return self._line(self.cells(self.rows[index]), style, width)

    def watch_cursor_row(self, old: int, new: int) -> None:
        del old, new
        self.refresh()

    # ------------------------------------------------------------------ moving
    def _go(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(len(self.rows) - 1, index))
        self.cursor_row = index
        top = self.scroll_offset.y
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + self.body_height:
            self.scroll_to(y=index - self.body_height + 1, animate=False, immediate=True)

    def action_move(self, step: int) -> None:
        self._go(self.cursor_row + step)

    def action_page(self, pages: int) -> None:
        self._go(self.cursor_row + pages * self.body_height)

    def action_select(self) -> None:
        if self.rows:
            self.post_message(self.RowSelected(self, self.cursor_row))

    def on_click(self, event: events.Click) -> None:
        width = self.scrollable_content_region.width
        if event.y == 0:
            x = 0
            for _, column, size in self._layout(width):
                if x <= event.x < x + size + 1:
                    self.post_message(self.HeaderSelected(self, column.key))
                    return
                x += size + 1
            return
        index = self.scroll_offset.y + event.y - 1
        if 0 <= index < len(self.rows):
            self._go(index)
            if event.chain >= 2:
                self.action_select()
