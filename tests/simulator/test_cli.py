"""``kazoe-sim`` dispatches each command with its own arguments (help included)."""

from __future__ import annotations

import pytest

from simulator.cli import OWN_ARGS, main


@pytest.mark.parametrize("command", sorted(OWN_ARGS))
def test_every_command_has_its_own_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: kazoe-sim {command}" in capsys.readouterr().out


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["teleport"])
    assert info.value.code == 2
    assert "invalid choice: 'teleport'" in capsys.readouterr().err


def test_options_reach_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["-v", "score", "--truth", "t.json"])
    assert info.value.code == 2
    assert "the following arguments are required: --counts" in capsys.readouterr().err
