"""What every console screen shares: running service calls in worker threads.

`call` runs a function of the `Console` in a thread worker and posts `Loaded` (a
read), `ActionDone` (an action) or `ServiceFailed` back to the screen; failures
also become an error notification carrying the CLI's one-line message, so a bad
file or a locked database never takes the console down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.screen import Screen

from certmgr.errors import CertmgrError
from tui.messages import ActionDone, Loaded, ServiceFailed

if TYPE_CHECKING:
    from tui.app import CertmgrApp

__all__ = ["ConsoleScreen", "error_text"]


def error_text(exc: BaseException) -> str:
    """What the CLI would print after `certmgr: error: ` (or `internal error: `)."""
    if isinstance(exc, CertmgrError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


class ConsoleScreen(Screen[None]):
    """A screen that reads from and acts on the inventory through workers."""

    @property
    def console_app(self) -> CertmgrApp:
        return cast("CertmgrApp", self.app)

    def read(self, what: str, fetch: Callable[[], Any]) -> None:
        self._run(what, fetch, action=False, done="")

    def act(self, what: str, call: Callable[[], Any], *, done: str | Callable[[Any], str]
            ) -> None:
        self._run(what, call, action=True, done=done)

    @work(thread=True, exit_on_error=False, group="console")
    def _run(self, what: str, call: Callable[[], Any], *, action: bool,
             done: str | Callable[[Any], str]) -> None:
        try:
            value = call()
        except Exception as exc:
            self.post_message(ServiceFailed(what, error_text(exc)))
            return
        if action:
            text = done(value) if callable(done) else done
            self.post_message(ActionDone(what, text, value))
        else:
            self.post_message(Loaded(what, value))

    @on(ServiceFailed)
    def _failed(self, message: ServiceFailed) -> None:
        self.notify(message.text, title="Error", severity="error", timeout=8, markup=False)

    @on(ActionDone)
    def _done(self, message: ActionDone) -> None:
        if message.text:
            self.notify(message.text, title="Done", markup=False)
        self.refresh_data()

    def refresh_data(self) -> None:
        """Reload what the screen shows (override)."""

    _resume_queued = False

    def on_screen_resume(self) -> None:
        # Textual posts ScreenResume twice when a mode's screen is first shown (once when
        # the mode starts, once when it is switched to): both are queued, read once.
        if not self._resume_queued:
            self._resume_queued = True
            self.call_later(self._resumed)

    def _resumed(self) -> None:
        self._resume_queued = False
        self.refresh_data()
