"""Modal forms: confirmation, CSR request, file picker, passphrase, snooze date.

Each returns its answer through `dismiss` (None when cancelled); none of them talks to
the services: the screen that opened it runs the action in a worker.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Input, Label, Select, Static

from certmgr.pki.csr import PROFILES
from tui.presenters import parse_snooze, relative_text

__all__ = ["ConfirmScreen", "CsrForm", "CsrRequest", "FilePicker", "PassphraseScreen",
           "SnoozeForm", "passphrase_problem"]

KEY_SIZES = (2048, 3072, 4096)
_CANCEL: list[BindingType] = [Binding("escape", "cancel", "Cancel")]


MIN_PASSPHRASE = 12


@dataclass(frozen=True, slots=True)
class CsrRequest:
    profile: str
    key_size: int
    passphrase: str


def passphrase_problem(first: str, second: str) -> str | None:
    """Why two typed passphrases are refused (None: accepted)."""
    if len(first) < MIN_PASSPHRASE:
        return f"At least {MIN_PASSPHRASE} characters, please."
    if first != second:
        return "The two entries differ."
    return None


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no for a destructive or sensitive action; No is the default."""

    BINDINGS = [*_CANCEL, Binding("y", "yes", "Yes", show=False),  # noqa: RUF012
                Binding("n", "cancel", "No", show=False)]

    def __init__(self, question: str, *, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.question), classes="question")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} [y]", id="yes", variant="error")
                yield Button("No [n]", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def action_yes(self) -> None:
        self.dismiss(result=True)

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(result=False)


class CsrForm(ModalScreen[CsrRequest | None]):
    """Profile, key size and key passphrase of a new CSR (mailboxes use ORG_AUTH_CLI,
    RSA 2048); the passphrase is typed twice in password fields."""

    BINDINGS = _CANCEL

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text.assemble("New key and CSR for ", (self.address, "bold")),
                         classes="question")
            yield Label("IGC Santé profile")
            yield Select([(p, p) for p in PROFILES], value="ORG_AUTH_CLI", allow_blank=False,
                         id="profile")
            yield Label("RSA key size")
            yield Select([(f"{n} bits", n) for n in KEY_SIZES], value=2048, allow_blank=False,
                         id="size")
            yield Label("Passphrase that will protect the new private key")
            yield Input(password=True, placeholder="passphrase", id="pass1")
            yield Input(password=True, placeholder="again", id="pass2")
            yield Static("", id="problem", classes="problem")
            with Horizontal(classes="buttons"):
                yield Button("Generate", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        profile = self.query_one("#profile", Select).value
        size = self.query_one("#size", Select).value
        first = self.query_one("#pass1", Input).value
        problem = passphrase_problem(first, self.query_one("#pass2", Input).value)
        if problem is not None:
            self.query_one("#problem", Static).update(problem)
            return
        self.dismiss(CsrRequest(str(profile), int(str(size)), first))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class FilePicker(ModalScreen[Path | None]):
    """Pick a file under `root` (the issued certificate ANS delivered)."""

    BINDINGS = _CANCEL

    def __init__(self, root: Path, *, title: str = "Choose a file") -> None:
        super().__init__()
        self.root = root
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog tall"):
            yield Static(Text(self.title_text), classes="question")
            yield DirectoryTree(self.root, id="tree")
            yield Input(placeholder="…or type a path and press Enter", id="path")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")

    @on(DirectoryTree.FileSelected)
    def _picked(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(Path(event.path))

    @on(Input.Submitted, "#path")
    def _typed(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(Path(event.value.strip()).expanduser())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class PassphraseScreen(ModalScreen[str | None]):
    """A passphrase typed twice in password fields (never echoed, never logged)."""

    BINDINGS = _CANCEL

    def __init__(self, prompt: str, *, confirm: bool = True) -> None:
        super().__init__()
        self.prompt = prompt
        self.confirm = confirm

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.prompt), classes="question")
            yield Input(password=True, placeholder="passphrase", id="pass1")
            if self.confirm:
                yield Input(password=True, placeholder="again", id="pass2")
            yield Static("", id="problem", classes="problem")
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        first = self.query_one("#pass1", Input).value
        second = self.query_one("#pass2", Input).value if self.confirm else first
        problem = passphrase_problem(first, second) if self.confirm else (
            None if first else "The passphrase, please.")
        if problem is not None:
            self.query_one("#problem", Static).update(problem)
            return
        self.dismiss(first)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class SnoozeForm(ModalScreen[dt.datetime | None]):
    """The date a snooze lasts until, checked as it is typed (ISO 8601, a date meaning
    00:00 UTC, after `now`); the question and the Snooze button confirm the action."""

    BINDINGS = _CANCEL
    DEFAULT_DAYS = 7

    def __init__(self, question: str, *, now: dt.datetime) -> None:
        super().__init__()
        self.question = question
        self.now = now

    def compose(self) -> ComposeResult:
        start = (self.now + dt.timedelta(days=self.DEFAULT_DAYS)).date().isoformat()
        with Vertical(classes="dialog"):
            yield Static(Text(self.question), classes="question")
            yield Input(value=start, placeholder="YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)",
                        id="until")
            yield Static("", id="parsed")
            yield Static("", id="problem", classes="problem")
            with Horizontal(classes="buttons"):
                yield Button("Acknowledge and snooze", id="ok", variant="error")
                yield Button("Cancel", id="cancel", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#until", Input).focus()
        self._check()

    @on(Input.Changed, "#until")
    def _check(self) -> dt.datetime | None:
        until, problem = parse_snooze(self.query_one("#until", Input).value, now=self.now)
        self.query_one("#problem", Static).update(problem or "")
        self.query_one("#parsed", Static).update(
            "" if until is None or problem else
            f"until {until:%Y-%m-%d %H:%M} UTC ({relative_text(until, at=self.now)})")
        return None if problem else until

    @on(Input.Submitted, "#until")
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        until = self._check()
        if until is not None:
            self.dismiss(until)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
