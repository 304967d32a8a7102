"""The log channel and the Message value."""

from __future__ import annotations

import logging

import pytest

from certmgr.channels import LogChannel, Message


def _message(**changes: object) -> Message:
    values: dict[str, object] = {"recipients": ("a@b.fr",), "subject": "Sujet é",
                                 "text": "Texte\n", "dedup_key": "test-1",
                                 "data": {"kind": "test"}}
    values.update(changes)
    return Message(**values)  # type: ignore[arg-type]


def test_log_channel_writes_one_structured_record(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="certmgr.alerts"):
        result = LogChannel().send(_message())
    [record] = caplog.records
    assert record.name == "certmgr.alerts"
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "alert test-1: Sujet é"
    payload = getattr(record, "certmgr_alert")  # noqa: B009 - set through `extra`
    assert payload == {"channel": "log", "dedup_key": "test-1", "recipients": ["a@b.fr"],
                       "subject": "Sujet é", "data": {"kind": "test"}}
    assert result.accepted == ("a@b.fr",)


@pytest.mark.parametrize("changes", [
    {"subject": "two\nlines"},
    {"recipients": ("a@b.fr\r\nBcc: x@y.fr",)},
    {"recipients": (" ",)},
    {"dedup_key": "has space"},
    {"headers": {"X-Ok": "bad\nvalue"}},
    {"headers": {"Bad Name": "v"}},
])
def test_message_refuses_header_injection(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _message(**changes)


def test_message_is_immutable() -> None:
    message = _message(headers={"X-A": "1"})
    with pytest.raises(TypeError):
        message.headers["X-B"] = "2"  # type: ignore[index]
