"""One mailbox: certificate facts and last endpoint probe, the validated chain as a tree,
findings, renewal state and history, alerts to acknowledge, and the actions on it (CSR,
ordered, import, export, acknowledge, archive)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Static, Tree

from certmgr.services.console import MailboxView
from tui.messages import Loaded
from tui.presenters import (
    alert_text,
    days_left_text,
    renewal_steps,
    status_label,
    status_style,
    when_text,
)
from tui.screens.base import ConsoleScreen
from tui.screens.modals import ConfirmScreen, CsrForm, CsrRequest, FilePicker, PassphraseScreen

__all__ = ["MailboxScreen", "outcome_text"]

_LINK_STYLE = {"ok": "green", "error": "bold red", "unknown": "grey50"}
_LINK_MARK = {"ok": "✔", "error": "✘", "unknown": "?"}
NARROW = 110
"""Below this width the facts and the history are stacked instead of side by side."""
ANS_NEXT_STEP = ("next: submit the CSR on the ANS portal (espace de gestion IGC Santé), "
                 "then import the issued certificate here [i]")


def outcome_text(value: Any, *, default: str) -> str:
    """One line for an action's result: its file paths when it reports any."""
    paths = [f"{name.removesuffix('_path')}: {getattr(value, name)}"
             for name in ("csr_path", "key_path", "path", "out_path")
             if getattr(value, name, None)]
    return f"{default} — " + ", ".join(paths) if paths else default


class MailboxScreen(ConsoleScreen):
    """The detail of `address`."""

    BINDINGS = [  # noqa: RUF012 - Textual's declaration style
        Binding("escape", "app.pop_screen", "Back"),
        Binding("g", "csr", "Generate CSR", tooltip="Generate a key and CSR"),
        Binding("o", "ordered", "Mark ordered",
                tooltip="Mark the certificate as ordered on the ANS portal"),
        Binding("i", "import_cert", "Import issued",
                tooltip="Import the certificate ANS issued (file picker)"),
        Binding("e", "export", "Export", tooltip="Export certificate, chain and key (PKCS#12)"),
        Binding("k", "acknowledge", "Ack alert", tooltip="Acknowledge its alerts"),
        Binding("x", "archive", "Archive", tooltip="Archive this mailbox"),
        Binding("r", "refresh", "Refresh", show=False, tooltip="Reload the mailbox"),
    ]

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address
        self.view: MailboxView | None = None

    @property
    def palette_context(self) -> str:
        """What the palette's entries of this screen act on."""
        return self.address

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(self.address, style="bold"), id="headline")
        # What is wrong first (findings, then the chain with each link's status), then the
        # certificate's facts beside the renewal and history (stacked when narrow).
        with VerticalScroll(id="detail"):
            yield Static("Loading…", id="findings", classes="card full")
            yield Tree("Chain", id="chain", classes="card full")
            with Horizontal(classes="row"):
                yield Static("", id="facts", classes="card wide")
                yield Static("", id="timeline", classes="card")
        yield Footer()

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")

    def on_mount(self) -> None:
        self.query_one("#facts").border_title = "Certificate"
        self.query_one("#chain").border_title = "Validated chain"
        self.query_one("#findings").border_title = "Findings"
        self.query_one("#timeline").border_title = "Renewal & history"

    def refresh_data(self) -> None:
        console = self.console_app.inventory
        self.read("mailbox", lambda: console.mailbox_view(address=self.address))

    def action_refresh(self) -> None:
        self.refresh_data()

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.what != "mailbox":
            return
        self.view = view = message.value
        row = view.row
        head = Text()
        head.append(f"{row.address}  ", style="bold")
        head.append(f" {status_label(row.status)} ", style=f"reverse {status_style(row.status)}")
        head.append(f"  {days_left_text(row.days_left)}  ", style=status_style(row.status))
        head.append(f"{row.structure} ({row.idnat})", style="dim")
        if view.archived:
            head.append("  ARCHIVED", style="bold magenta")
        self.query_one("#headline", Static).update(head)
        self.query_one("#facts", Static).update(self._facts(view))
        self._tree(view)
        self.query_one("#findings", Static).update(self._findings(view))
        self.query_one("#timeline", Static).update(self._timeline(view))

    @staticmethod
    def _facts(view: MailboxView) -> Text:
        text = Text()
        for label, value in (("Application", view.application),
                             ("Environment", view.environment),
                             ("Contacts", ", ".join(view.contacts) or "-"),
                             ("Département", view.department or "-")):
            text.append(f"{label:<12} ", style="dim")
            text.append(f"{value}\n")
        text.append("\n")
        if not view.facts:
            text.append("No current certificate: generate a CSR [g]", style="grey50")
        for label, value in view.facts:
            text.append(f"{label:<12} ", style="dim")
            text.append(f"{value}\n")
        text.append(f"{'Last probe':<12} ", style="dim")
        if view.probe is None:
            text.append("no probe yet", style="grey50")
        else:
            text.append(f"{view.probe.at:%Y-%m-%d %H:%M} UTC  ", style="dim")
            text.append(view.probe.text, style="green" if view.probe.ok else "bold red")
        return text

    def _tree(self, view: MailboxView) -> None:
        tree: Tree[str] = self.query_one("#chain", Tree)
        tree.clear()
        tree.show_root = False
        node = tree.root
        for link in view.chain:
            label = Text()
            label.append(f"{_LINK_MARK[link.status]} ", style=_LINK_STYLE[link.status])
            label.append(link.name)
            node = node.add(label, expand=True)
            for message in link.messages:
                node.add_leaf(Text(message, style=_LINK_STYLE[link.status]))
        if not view.chain:
            tree.root.add_leaf(Text("no certificate", style="grey50"))
        tree.root.expand_all()

    @staticmethod
    def _findings(view: MailboxView) -> Text:
        if not view.findings:
            when = when_text(view.checked_at)
            return Text(f"No finding (last check: {when}).", style="dim")
        text = Text()
        for i, f in enumerate(view.findings):
            severity = f.severity.upper()
            style = {"ERROR": "bold red", "WARNING": "yellow"}.get(severity, "dim")
            text.append(("\n" if i else "") + f"{severity:<8} {f.code:<22}", style=style)
            text.append(f" {f.message}")
        return text

    @staticmethod
    def _timeline(view: MailboxView) -> Text:
        text = Text()
        if view.alerts:
            text.append(f"⚠ {len(view.alerts)} alert(s) to acknowledge [k]: ", style="bold yellow")
            text.append("; ".join(alert_text(a) for a in view.alerts) + "\n")
        text.append("Renewal: ", style="bold")
        text.append((view.row.renewal or "nothing under way") + "\n")
        for renewal in view.renewals:
            text.append(f"  #{renewal.id} {renewal.profile} ", style="dim")
            text.append(" → ".join(renewal_steps(renewal)), style="cyan")
            text.append("\n")
        text.append("\n")
        for entry in reversed(view.timeline):
            text.append(f"{entry.at:%Y-%m-%d %H:%M}  ", style="dim")
            text.append(f"{entry.action:<18}", style="cyan")
            text.append(f" {entry.actor}  {entry.text}\n")
        return text

    # ------------------------------------------------------------------ actions
    def _after(self, what: str, call: Any, done: str, *, unmatched: str = "") -> None:
        """Run `call` in a worker; notify `done` (or `unmatched` when an import bound no
        certificate to this mailbox)."""
        app = self.console_app

        def run() -> Any:
            value = call()
            app.generation += 1
            return value

        def text(value: Any) -> str:
            if unmatched and not getattr(value, "matches", True):
                return unmatched
            return outcome_text(value, default=done)

        self.act(what, run, done=text)

    def action_csr(self) -> None:
        def with_request(request: CsrRequest | None) -> None:
            if request is None:
                return
            app = self.console_app
            self._after("csr", lambda: app.inventory.generate_csr(
                address=self.address, profile=request.profile, key_size=request.key_size,
                passphrase=request.passphrase, at=app.now(), actor=app.actor),
                f"CSR generated; {ANS_NEXT_STEP}")

        self.app.push_screen(CsrForm(self.address), with_request)

    def action_ordered(self) -> None:
        app = self.console_app
        self._after("ordered", lambda: app.inventory.mark_ordered(
            address=self.address, at=app.now(), actor=app.actor), "Marked as ordered")

    def action_import_cert(self) -> None:
        def picked(path: Path | None) -> None:
            if path is None:
                return
            app = self.console_app
            self._after("import", lambda: app.inventory.import_issued(
                address=self.address, path=path, at=app.now(), actor=app.actor),
                f"Imported {path.name}", unmatched=f"Read {path.name}: no certificate in it "
                f"is for {self.address}")

        self.app.push_screen(FilePicker(self.console_app.browse_root,
                                        title="The certificate ANS issued"), picked)

    def action_export(self) -> None:
        def with_pass(passphrase: str | None) -> None:
            if passphrase is None:
                return
            app = self.console_app
            self._after("export", lambda: app.inventory.export(
                address=self.address, passphrase=passphrase, at=app.now(), actor=app.actor),
                "Exported")

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.app.push_screen(PassphraseScreen(
                    "Passphrase of the private key (it also protects the PKCS#12 file)",
                    confirm=False), with_pass)

        self.app.push_screen(ConfirmScreen(
            f"Export the certificate and private key of {self.address}?", yes="Export"),
            confirmed)

    def action_acknowledge(self) -> None:
        pending = () if self.view is None else self.view.alerts
        if not pending:
            self.notify(f"No alert to acknowledge for {self.address}.", markup=False)
            return

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            app = self.console_app
            self._after("acknowledge", lambda: app.inventory.acknowledge_mailbox(
                address=self.address, at=app.now(), actor=app.actor),
                f"Alerts of {self.address} acknowledged")

        self.app.push_screen(ConfirmScreen(
            f"Acknowledge {len(pending)} alert(s) of {self.address}? "
            "Reminders about this certificate stop.", yes="Acknowledge"), confirmed)

    def action_archive(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            app = self.console_app
            self._after("archive", lambda: app.inventory.archive(
                address=self.address, at=app.now(), actor=app.actor),
                f"{self.address} archived")

        self.app.push_screen(ConfirmScreen(
            f"Archive {self.address}? It will no longer be scanned nor listed.",
            yes="Archive"), confirmed)
