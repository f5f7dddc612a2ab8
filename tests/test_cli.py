"""The `stgcn` console script: every command is wired up, user errors are one line with exit 2."""

import pytest

from stgcn.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: stgcn " + name in capsys.readouterr().out


def test_user_error_is_one_line_without_traceback(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing.pkl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stgcn validate: error:") and "missing.pkl" in err
    assert "\n" not in err and "Traceback" not in err
