"""``--help`` of the command and of every sub-command: no empty "(default: None)" after an option."""

from __future__ import annotations

import pytest

from maskrcnn_custom.cli import COMMANDS, main


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_never_prints_default_none(command, capsys):
    text = _help([command] if command else [], capsys)
    assert "usage: maskrcnn-custom" in text
    assert "(default: None)" not in " ".join(text.split())  # also when argparse wraps it over two lines
    if command:
        assert f"maskrcnn-custom {command}" in text


def test_help_still_shows_defaults_that_say_something(capsys):
    text = " ".join(_help(["train"], capsys).split())  # undo argparse's line wrapping
    assert "--coco DIR training data" in text and "(default: 0)" in text
