"""Modal forms: confirmation, CSR request, file picker, passphrase.

Each returns its answer through `dismiss` (None when cancelled); none of them talks to
the services: the screen that opened it runs the action in a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Input, Label, Select, Static

from certmgr.pki.csr import PROFILES

__all__ = ["ConfirmScreen", "CsrForm", "CsrRequest", "FilePicker", "PassphraseScreen"]

KEY_SIZES = (2048, 3072, 4096)
_CANCEL: list[BindingType] = [Binding("escape", "cancel", "Cancel")]


@dataclass(frozen=True, slots=True)
class CsrRequest:
    profile: str
    key_size: int


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
            yield Static(self.question, classes="question")
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
    """Profile and key size of a new CSR (mailboxes use ORG_AUTH_CLI, RSA 2048)."""

    BINDINGS = _CANCEL

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"New key and CSR for [b]{self.address}[/b]", classes="question")
            yield Label("IGC Santé profile")
            yield Select([(p, p) for p in PROFILES], value="ORG_AUTH_CLI", allow_blank=False,
                         id="profile")
            yield Label("RSA key size")
            yield Select([(f"{n} bits", n) for n in KEY_SIZES], value=2048, allow_blank=False,
                         id="size")
            with Horizontal(classes="buttons"):
                yield Button("Generate", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        profile = self.query_one("#profile", Select).value
        size = self.query_one("#size", Select).value
        self.dismiss(CsrRequest(str(profile), int(str(size))))

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
            yield Static(self.title_text, classes="question")
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
            yield Static(self.prompt, classes="question")
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
        if len(first) < 12:
            self.query_one("#problem", Static).update("At least 12 characters, please.")
            return
        if first != second:
            self.query_one("#problem", Static).update("The two entries differ.")
            return
        self.dismiss(first)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
