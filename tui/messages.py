"""Typed messages that workers post back to the screens that started them."""

from __future__ import annotations

from typing import Any

from textual.message import Message

__all__ = ["ActionDone", "Loaded", "ServiceFailed"]


class Loaded(Message):
    """A read finished; `what` names it ("dashboard", "mailboxes"...), `value` is the result."""

    def __init__(self, what: str, value: Any) -> None:
        super().__init__()
        self.what = what
        self.value = value


class ActionDone(Message):
    """An action finished; `text` is the one-line outcome shown to the operator."""

    def __init__(self, action: str, text: str, value: Any = None) -> None:
        super().__init__()
        self.action = action
        self.text = text
        self.value = value


class ServiceFailed(Message):
    """A read or an action raised; `text` is the same one line the CLI prints."""

    def __init__(self, what: str, text: str) -> None:
        super().__init__()
        self.what = what
        self.text = text
