"""Every CLI mistake gets one line and a non-zero exit, before any long work, leaving nothing behind.

The classes of mistakes, each tried on every subcommand it applies to:
every output option × every kind of bad path, bad numeric values of every flag,
an unknown flag, a bad GEMINI_NP_BACKEND, a diverging run, and Ctrl-C.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gemini_np import cli

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--samples", "48", "--epochs", "1", "--batch-size", "16", "--quiet"]
#: A folder nobody may create files in, not even root (sysfs refuses new files).
UNWRITABLE = Path("/sys/gemini_np_no_such_folder")


def assert_one_line_error(stderr: str, status: int, expected: int = cli.EXIT_USAGE, prefix: str = "error: "):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert status == expected, stderr
    assert len(lines) == 1 and lines[0].startswith(prefix), stderr
    assert "Traceback" not in stderr


def snapshot(folder: Path) -> set:
    return {p.relative_to(folder) for p in folder.rglob("*")}


@pytest.fixture
def no_training(monkeypatch):
    """Any attempt to train fails the test: every check must come before the work."""
    import gemini_np.train

    def refuse(*args, **kwargs):
        raise AssertionError("training started although an argument was bad")

    monkeypatch.setattr(gemini_np.train, "train", refuse)


@pytest.fixture
def checkpoint(tmp_path_factory):
    """A real checkpoint from a tiny run (for evaluate)."""
    path = tmp_path_factory.mktemp("ckpt") / "m.npz"
    assert cli.main(["train", *TINY, "--save", str(path)]) == 0
    return path


def bad_file_paths(tmp_path: Path) -> dict:
    """Every kind of path that cannot be written as a file."""
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    return {
        "is a folder": tmp_path / "a_folder",
        "parent is a file": tmp_path / "a_file" / "out.json",
        "grandparent is a file": tmp_path / "a_file" / "sub" / "out.json",
        "unwritable place": UNWRITABLE / "out.json",
    }


def bad_dir_paths(tmp_path: Path) -> dict:
    """Every kind of path that cannot be used as an output folder."""
    (tmp_path / "a_file").write_text("x")
    return {
        "is a file": tmp_path / "a_file",
        "parent is a file": tmp_path / "a_file" / "figs",
        "unwritable place": UNWRITABLE / "figs",
    }


def output_cases(tmp_path: Path, checkpoint_path: Path | None):
    """(argv, path) for every subcommand × output option × bad path."""
    cases = []
    for kind, path in bad_file_paths(tmp_path).items():
        cases.append((f"train --save, {kind}", ["train", *TINY, "--save", str(path)]))
        cases.append((f"train --json, {kind}", ["train", *TINY, "--json", str(path)]))
        cases.append((f"explore --out, {kind}", ["explore", "--out", str(path)]))
        if checkpoint_path is not None:
            cases.append((f"evaluate --json, {kind}", ["evaluate", str(checkpoint_path), "--json", str(path)]))
    for kind, path in bad_dir_paths(tmp_path).items():
        cases.append((f"train --plots, {kind}", ["train", *TINY, "--plots", str(path)]))
        cases.append((f"demo --plots, {kind}", ["demo", "--plots", str(path)]))
    return cases


def test_every_output_option_with_every_bad_path_fails_before_training(tmp_path, checkpoint, no_training, capsys,
                                                                      monkeypatch):
    import gemini_np.gradcheck

    monkeypatch.setattr(gemini_np.gradcheck, "op_gradcheck_table", lambda seed=0: pytest.fail("demo did work first"))
    work = tmp_path / "work"
    work.mkdir()
    cases = output_cases(work, checkpoint)
    assert len(cases) == 22
    before = snapshot(work)
    for label, argv in cases:
        capsys.readouterr()
        status = cli.main(argv)
        err = capsys.readouterr().err
        assert_one_line_error(err, status)
        assert snapshot(work) == before, f"{label}: something was written"


def test_a_good_run_writes_every_output_and_nothing_else(tmp_path, capsys):
    out = tmp_path / "new" / "deeper"
    argv = ["train", *TINY, "--save", str(out / "m.npz"), "--json", str(out / "m.json"), "--plots", str(out / "figs")]
    assert cli.main(argv) == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "figs", "figs/attention.png", "figs/curves.png", "m.json", "m.npz"]


#: Values no integer flag accepts; 0 is refused by the counts only (a seed or --threads may be 0).
BAD_INTEGERS = ["-1", "x", "1.5", "nan", "", "1e3"]


COUNTS = ["--epochs", "--batch-size", "--samples"]  # 0 is refused too
SEEDS_AND_THREADS = ["--seed", "--data-seed", "--threads"]  # 0 is valid


@pytest.mark.parametrize("flag, value", [(f, v) for f in COUNTS for v in BAD_INTEGERS + ["0"]]
                         + [(f, v) for f in SEEDS_AND_THREADS for v in BAD_INTEGERS])
def test_bad_integer_flag_values(flag, value, no_training, capsys):
    status = cli.main(["train", *TINY, flag, value])  # the last occurrence of a flag wins
    assert_one_line_error(capsys.readouterr().err, status)


@pytest.mark.parametrize("samples", ["10", "4000000000000", "99999999999999999999999999999"])
def test_impossible_data_sizes_are_refused_before_any_allocation(samples, no_training, capsys):
    status = cli.main(["train", *TINY, "--samples", samples])
    err = capsys.readouterr().err
    assert_one_line_error(err, status)
    assert "samples" in err


@pytest.mark.parametrize("value", ["0", "-1e-3", "nan", "inf", "-inf", "1e400", "x", ""])
def test_bad_learning_rates_are_refused_up_front(value, no_training, capsys):
    status = cli.main(["train", *TINY, "--lr", value])
    err = capsys.readouterr().err
    assert_one_line_error(err, status)
    assert "lr" in err


def test_a_diverging_run_stops_with_one_line_and_saves_nothing(tmp_path, capsys):
    argv = ["train", *TINY, "--lr", "1e300", "--save", str(tmp_path / "m.npz"), "--json", str(tmp_path / "m.json")]
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert_one_line_error(err, status, expected=cli.EXIT_FAILED)
    assert "diverged" in err and "nan" in err.lower()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["train", *TINY], ["evaluate", "x.npz"], ["gradcheck"], ["demo"]],
                         ids=["train", "evaluate", "gradcheck", "demo"])
def test_a_bad_backend_variable_is_one_line_for_every_subcommand(argv, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GEMINI_NP_BACKEND", "tpu")
    monkeypatch.chdir(tmp_path)
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert_one_line_error(err, status)
    assert "tpu" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["train", "--epcohs", "3"], ["evaluate"], ["gradcheck", "--seed", "-1"],
                                  ["gradcheck", "--entries", "0"], ["demo", "--plot", "x", "--what"], ["trian"], []],
                         ids=["typo", "missing-checkpoint", "negative-seed", "zero-entries", "unknown-flag",
                              "unknown-command", "nothing"])
def test_usage_mistakes_are_one_line(argv, capsys):
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert_one_line_error(err, status)
    if argv[:1] == ["train"]:
        assert "python -m gemini_np train --help" in err  # the subcommand's help, not the top-level one


def test_evaluate_on_a_file_that_is_not_a_checkpoint_says_so(tmp_path, capsys):
    (tmp_path / "metrics.json").write_text('{"test_accuracy": 1.0}')
    status = cli.main(["evaluate", str(tmp_path / "metrics.json")])
    err = capsys.readouterr().err
    assert_one_line_error(err, status)
    assert "not a gemini_np checkpoint" in err and "pickl" not in err


@pytest.mark.parametrize("command", ["train", "demo", "evaluate", "gradcheck", "explore"])
def test_ctrl_c_is_one_line_exit_130_and_nothing_saved(command, checkpoint, tmp_path, monkeypatch, capsys):
    import gemini_np.explorer
    import gemini_np.gradcheck
    import gemini_np.train

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    for module, name in ((gemini_np.train, "train"), (gemini_np.train, "evaluate_model_on_split"),
                         (gemini_np.gradcheck, "op_gradcheck_table"), (gemini_np.explorer, "write_page")):
        monkeypatch.setattr(module, name, interrupt)
    argv = {"train": ["train", *TINY, "--save", str(tmp_path / "m.npz")], "demo": ["demo", "--plots", str(tmp_path / "d")],
            "evaluate": ["evaluate", str(checkpoint), "--json", str(tmp_path / "e.json")], "gradcheck": ["gradcheck"],
            "explore": ["explore", "--out", str(tmp_path / "x.html")]}
    status = cli.main(argv[command])
    assert_one_line_error(capsys.readouterr().err, status, expected=cli.EXIT_INTERRUPTED, prefix="interrupted")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_a_real_process(tmp_path):
    """SIGINT while a real `train` runs: the last line says so, exit 130, no traceback, no file."""
    proc = subprocess.Popen([sys.executable, "-m", "gemini_np", "train", "--save", str(tmp_path / "m.npz")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    time.sleep(4.0)  # imports and data are done; the first epochs are running
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted; nothing saved"
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_closed_pipe_is_not_an_error(tmp_path):
    """`python -m gemini_np gradcheck | head -1`: the reader leaves early; nothing on stderr."""
    done = subprocess.run(f"{sys.executable} -m gemini_np gradcheck --entries 1 | head -1", shell=True, cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.stdout.startswith("Worst relative error") and done.stderr == ""


@pytest.mark.parametrize("section, field, value", [
    ("data", "noise", float("nan")), ("data", "noise", -0.1), ("data", "samples", 10), ("data", "language", "fr"),
    ("data", "test_fraction", 1.5), ("data", "split_seed", "42"), ("data", "surprise", 1),
    ("model", "d_model", float("inf")), ("model", "patch_size", 3), ("model", "dtype", "float16"),
    ("model", "surprise", 1),
], ids=lambda v: str(v))
def test_evaluate_validates_every_field_of_a_loaded_config(section, field, value, checkpoint, tmp_path, capsys):
    """A checkpoint's settings are checked as strictly as the flags: one line naming the field, exit 2."""
    import json

    import numpy as np

    with np.load(checkpoint, allow_pickle=False) as f:
        arrays = {name: f[name] for name in f.files}
    info = json.loads(str(arrays.pop("__config__")))
    info[section] = {**info[section], field: value}
    arrays["__config__"] = np.array(json.dumps(info))
    np.savez(tmp_path / "edited.npz", **arrays)
    status = cli.main(["evaluate", str(tmp_path / "edited.npz")])
    err = capsys.readouterr().err
    assert_one_line_error(err, status)
    assert field in err
