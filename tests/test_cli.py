"""The `stgcn` console script: every command is wired up, user errors are one line with exit 2."""

import pytest

from stgcn.cli import COMMANDS, main
from tests.engine.tiny import ROOT


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


def test_bench_times_the_config_model(capsys):
    config = str(ROOT / "configs/skeleton/stgcn/stgcn_80e_ntu60_xsub_keypoint_3d.py")
    args = ["bench", config, "--frames", "16", "--repeats", "1", "--warmup", "1", "--threads", "1"]
    assert main(args + ["--fuse-conv-bn", "--train", "--padded-persons"]) == 0
    out = capsys.readouterr().out
    assert "batch 1 x T16 x M2" in out and "persons after the first padded" in out
    for row in ("eval ", "eval fused", "train step"):
        assert row in out
    assert main(args + ["--repeats", "0"]) == 2
    assert "--repeats" in capsys.readouterr().err


def test_bench_compile_times_the_inductor_model(capsys):
    from stgcn.inference.compiled import cxx_compiler

    config = str(ROOT / "configs/skeleton/stgcn/stgcn_penn_action_joint_2d.py")
    code = main(["bench", config, "--frames", "8", "--repeats", "1", "--warmup", "1", "--threads", "1",
                 "--compile"])
    out, err = capsys.readouterr()
    if cxx_compiler() is None:
        assert code == 2 and "found no C++ compiler" in err
        return
    assert code == 0 and "compiled in" in out
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("eval inductor"))
    assert float(row[2]) > 0 and row[3] == "ms/batch"


def test_a_mistyped_option_gets_the_command_usage_and_the_closest_option(capsys):
    from stgcn.cli import run_command

    with pytest.raises(SystemExit) as info:
        main(["predict", "ckpt.pth", "clips.pkl", "--spilt", "test"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "usage: stgcn predict" in err
    assert err.strip().splitlines()[-1] == ("stgcn predict: error: unrecognized arguments: --spilt "
                                            "(did you mean --split?)")
    with pytest.raises(SystemExit):
        run_command("test", ["cfg.py", "ckpt.pth", "--show-dir", "vis"], prog="tools/test.py")
    assert capsys.readouterr().err.strip().endswith("unrecognized arguments: --show-dir")  # no far guess
    # named before argparse would call the option it hides (or a positional after it) missing
    with pytest.raises(SystemExit):
        main(["init-config", "ann.pkl", "--budget-minutes", "5"])
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "stgcn init-config: error: unrecognized arguments: --budget-minutes (did you mean --budget-min?)")
    with pytest.raises(SystemExit):  # a command with its own subcommands: their options count
        main(["convert", "kinetics", "a", "b", "--lables", "l.json"])
    err = capsys.readouterr().err.strip()
    assert err.endswith("unrecognized arguments: --lables (did you mean --labels?)")
    with pytest.raises(SystemExit) as info:
        main(["predict", "--help", "--bogus"])  # help still wins
    assert info.value.code == 0 and "usage: stgcn predict" in capsys.readouterr().out
