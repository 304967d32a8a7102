"""Passphrase sources, and a passphrase that never shows in a repr, str or error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from certmgr.errors import PassphraseError
from certmgr.secrets import ENV_PASSPHRASE, Secret, read_passphrase

PHRASE = "tr0ub4dor&3 phrase"


def _prompt(*answers: str) -> Callable[[str], str]:
    replies = iter(answers)
    return lambda _label: next(replies)


def _file(tmp_path: Path, content: bytes, mode: int) -> Path:
    path = tmp_path / "passphrase"
    path.write_bytes(content)
    path.chmod(mode)
    return path


class TestSources:
    def test_environment(self) -> None:
        got = read_passphrase(
            env={ENV_PASSPHRASE: PHRASE}, passphrase_file=None, prompt=None, confirm=False
        )
        assert got == PHRASE.encode()
        assert got.reveal() == PHRASE.encode()

    @pytest.mark.parametrize("content", [b"%s\n", b"%s\r\n", b"%s", b"%s\nsecond line\n"])
    def test_file_first_line(self, tmp_path: Path, content: bytes) -> None:
        path = _file(tmp_path, content % PHRASE.encode(), 0o600)
        got = read_passphrase(env={}, passphrase_file=path, prompt=None, confirm=False)
        assert got == PHRASE.encode()

    def test_file_wins_over_environment(self, tmp_path: Path) -> None:
        path = _file(tmp_path, b"from-file\n", 0o400)
        got = read_passphrase(
            env={ENV_PASSPHRASE: "from-env"}, passphrase_file=path, prompt=None, confirm=False
        )
        assert got == b"from-file"

    @pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
    def test_readable_by_others_is_refused(self, tmp_path: Path, mode: int) -> None:
        path = _file(tmp_path, PHRASE.encode(), mode)
        with pytest.raises(PassphraseError, match=f"mode {mode:04o}") as info:
            read_passphrase(env={}, passphrase_file=path, prompt=None, confirm=False)
        assert str(path) in str(info.value)
        assert PHRASE not in str(info.value)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(PassphraseError, match="cannot open"):
            read_passphrase(env={}, passphrase_file=tmp_path / "nope", prompt=None, confirm=False)

    def test_prompt_with_confirmation(self) -> None:
        got = read_passphrase(
            env={}, passphrase_file=None, prompt=_prompt(PHRASE, PHRASE), confirm=True
        )
        assert got == PHRASE.encode()
        with pytest.raises(PassphraseError, match="differ") as info:
            read_passphrase(
                env={}, passphrase_file=None, prompt=_prompt(PHRASE, "other"), confirm=True
            )
        assert PHRASE not in str(info.value)

    @pytest.mark.parametrize(
        ("env", "content", "answers"),
        [({ENV_PASSPHRASE: ""}, None, ()), ({}, b"\nsecond\n", ()), ({}, None, ("",))],
    )
    def test_empty_passphrase_is_refused(
        self, tmp_path: Path, env: dict[str, str], content: bytes | None, answers: tuple[str, ...]
    ) -> None:
        path = None if content is None else _file(tmp_path, content, 0o600)
        with pytest.raises(PassphraseError, match="empty"):
            read_passphrase(env=env, passphrase_file=path, prompt=_prompt(*answers), confirm=False)

    def test_no_source_at_all(self) -> None:
        with pytest.raises(PassphraseError, match=ENV_PASSPHRASE):
            read_passphrase(env={}, passphrase_file=None, prompt=None, confirm=False)


class TestSecret:
    def test_never_prints_itself(self) -> None:
        secret = Secret(PHRASE.encode())
        assert repr(secret) == "Secret('***')"
        assert str(secret) == "***"
        assert f"{secret}" == "***"
        assert f"{secret!r}" == "Secret('***')"
        assert PHRASE not in repr([secret, {"k": secret}])
        assert secret == PHRASE.encode()
        assert isinstance(secret, bytes)
