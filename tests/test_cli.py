"""gemini_np.cli, ``python -m gemini_np``: demo, train, evaluate, gradcheck.

What a user sees when things go right (and a few one-line errors); every other kind of
mistake is tried in tests/test_cli_errors.py. Every run writes under pytest's tmp_path only:
in-process runs get explicit output paths, real processes run with their working
directory in tmp_path (the demo's default ``--plots runs/demo`` is relative to it).
"""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gemini_np import cli
from gemini_np.cli import DEMO_CONFIG, build_parser, demo_training, main

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--samples", "48", "--epochs", "1", "--batch-size", "16", "--quiet"]
E = math.e
A = math.exp(1 / math.sqrt(5))  # the diagonal logit with the 1/√d_k scaling, d_k = 5
#: softmax([1, 0, 0]) = [e, 1, 1] / (e + 2), and with the scaling [a, 1, 1] / (a + 2): computed, not copied
WORKED_EXAMPLE = (E / (E + 2), 1 / (E + 2), A / (A + 2), 1 / (A + 2))


def run_cli(*args, cwd, env=None):
    """The real command in a fresh process (what a user sees, tracebacks included), run in ``cwd``
    with this checkout's package first on the path."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "gemini_np", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": path, **(env or {})}, timeout=300)


def assert_one_line_error(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny `train` run with every output option."""
    out = tmp_path_factory.mktemp("train")
    argv = ["train", *TINY, "--save", str(out / "m.npz"), "--json", str(out / "m.json"), "--plots", str(out / "fig")]
    return out, main(argv)


def test_train_writes_checkpoint_metrics_and_figures(trained):
    out, status = trained
    assert status == 0
    metrics = json.loads((out / "m.json").read_text(encoding="utf-8"))
    for key in ("test_accuracy", "train_accuracy", "train_seconds", "epochs", "samples"):
        assert key in metrics
    assert metrics["samples"] == 48 and metrics["epochs"] == 1 and len(metrics["history"]) == 1
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["train_seconds"] > 0
    assert sorted(p.name for p in (out / "fig").iterdir()) == ["attention.png", "curves.png"]
    assert (out / "m.npz").stat().st_size > 0


def test_evaluate_reproduces_the_test_accuracy_of_the_saved_model(trained, capsys):
    out, _ = trained
    capsys.readouterr()
    assert main(["evaluate", str(out / "m.npz"), "--json", str(out / "e.json")]) == 0
    evaluated = json.loads((out / "e.json").read_text(encoding="utf-8"))
    trained_metrics = json.loads((out / "m.json").read_text(encoding="utf-8"))
    assert evaluated["test_accuracy"] == trained_metrics["test_accuracy"]
    assert evaluated["test_loss"] == trained_metrics["test_loss"]
    assert evaluated["test_pairs"] == trained_metrics["test_pairs"] == 10
    assert f"test accuracy {trained_metrics['test_accuracy']:.4f}" in capsys.readouterr().out


def test_train_output_and_the_ablation_option(tmp_path, capsys):
    assert main(["train", *TINY, "--ablate", "image", "--json", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "ablated: image" in out
    assert json.loads((tmp_path / "a.json").read_text())["ablate"] == "image"


def test_corrupt_checkpoints_give_a_one_line_error_and_a_nonzero_exit(trained, tmp_path, capsys):
    out, _ = trained
    good = (out / "m.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(good[: len(good) // 3])
    (tmp_path / "garbage.npz").write_bytes(b"not a checkpoint at all")
    np.savez(tmp_path / "foreign.npz", w=np.zeros(3))
    for name in ("truncated.npz", "garbage.npz", "foreign.npz", "missing.npz"):
        capsys.readouterr()
        assert main(["evaluate", str(tmp_path / name)]) == 2, name
        assert_one_line_error(capsys.readouterr().err)


def test_a_corrupt_checkpoint_in_a_real_process(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated zip")
    done = run_cli("evaluate", "bad.npz", cwd=tmp_path)
    assert done.returncode == 2
    assert_one_line_error(done.stderr)
    assert "bad.npz" in done.stderr


def test_missing_cupy_is_a_one_line_error_with_the_pip_command(tmp_path):
    try:
        from gemini_np.backend import set_backend

        set_backend("cupy")
    except Exception:
        pass
    else:
        set_backend("numpy")
        pytest.skip("CuPy and a GPU are available here")
    for args, env in ((["train", *TINY, "--backend", "cupy"], None), (["evaluate", "x.npz"], {"GEMINI_NP_BACKEND": "cupy"})):
        done = run_cli(*args, cwd=tmp_path, env=env)
        assert done.returncode == 2
        assert_one_line_error(done.stderr)
        assert "pip install" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_backend_name_is_a_one_line_error(capsys):
    assert main(["train", *TINY, "--backend", "tpu"]) == 2
    assert_one_line_error(capsys.readouterr().err)


def test_bad_option_values_are_one_line_errors(capsys):
    assert main(["train", "--samples", "10", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err)
    assert "multiple of 4" in err


@pytest.fixture(scope="module")
def gradcheck_run():
    """``gradcheck --entries 2`` in process: (exit status, printed text)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["gradcheck", "--entries", "2"])
    return status, out.getvalue()


def test_gradcheck_lists_every_op_of_the_registry_and_the_model(gradcheck_run):
    from gemini_np.functional.registry import OPS

    _, out = gradcheck_run
    row = re.compile(r"\d\.\de[+-]\d\d +\de[+-]\d\d +(pass|FAIL)$")  # "... 2.7e-09    1e-07  pass"
    rows = [line for line in out.splitlines() if row.search(line)]
    assert len(rows) == len(OPS) + 6 == 25  # 19 op rows, 6 model rows
    for op in OPS:
        assert any(row.startswith(op.name) for row in rows), op.name
    for row in ("model: text encoder", "model: image encoder", "model: fusion layer", "model: matching head",
                "model: d images", "whole model (61 tensors)"):
        assert any(r.startswith(row) for r in rows), row


def test_gradcheck_passes(gradcheck_run):
    status, out = gradcheck_run
    assert status == 0 and "FAIL" not in out and "all 25 checks pass" in out


def test_gradcheck_exit_status_reports_a_failing_row(monkeypatch, capsys):
    from gemini_np import gradcheck

    monkeypatch.setattr(gradcheck, "op_gradcheck_table",
                        lambda seed=0: [{"op": "broken", "worst": "x", "error": 1.0, "bound": 1e-7, "ok": False}])
    monkeypatch.setattr(gradcheck, "model_gradcheck_rows", lambda seed=0, max_entries=16: [])
    assert main(["gradcheck"]) == cli.EXIT_FAILED == 1
    assert "FAILED: broken" in capsys.readouterr().out


# ----------------------------------------------------------------------------- demo


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``python -m gemini_np demo`` as a user runs it, in a fresh process whose working directory
    is an empty temporary folder (the figures go to its default ``runs/demo`` there)."""
    cwd = tmp_path_factory.mktemp("demo")
    return cwd, run_cli("demo", cwd=cwd)


def test_demo_prints_the_worked_example_the_gradient_check_and_a_training_run(demo_run):
    cwd, done = demo_run
    out = done.stdout
    for value in WORKED_EXAMPLE:
        assert f"{value:.4f}" in out
    assert "猫" in out and "喜欢" in out and "吃鱼" in out
    assert "(WRONG: softmax of a single number)" in out
    assert f"A short training run: {DEMO_CONFIG['samples']} image-caption pairs" in out
    assert "test accuracy" in out and "figures saved to runs/demo: curves.png, attention.png" in out
    assert f"epoch  {DEMO_CONFIG['epochs']}/{DEMO_CONFIG['epochs']}" in done.stderr  # the progress bar
    assert "Traceback" not in done.stderr


def test_demo_writes_its_figures_under_the_working_directory_and_nothing_else(demo_run):
    cwd, _ = demo_run
    assert sorted(str(p.relative_to(cwd)) for p in cwd.rglob("*")) == [
        "runs", "runs/demo", "runs/demo/attention.png", "runs/demo/curves.png"]


def test_demo_passes_every_gradient_check(demo_run):
    _, done = demo_run
    assert done.returncode == 0 and "FAIL" not in done.stdout


@pytest.fixture
def tiny_demo(monkeypatch):
    """The demo's training part at a tiny size (its real size runs in demo_run above)."""
    monkeypatch.setattr(cli, "DEMO_CONFIG", dict(samples=48, epochs=2, batch_size=16))


def test_demo_training_prints_its_run_and_saves_its_figures(tmp_path, capsys, tiny_demo):
    assert demo_training(tmp_path / "demo") is None
    out = capsys.readouterr()
    assert "A short training run: 48 image-caption pairs" in out.out and "float32" in out.out
    assert "test accuracy" in out.out and f"figures saved to {tmp_path / 'demo'}" in out.out
    assert "epoch  2/2" in out.err  # the progress bar
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["attention.png", "curves.png"]


def test_demo_exit_status_reports_a_failing_op(monkeypatch, capsys, tmp_path, tiny_demo):
    """The demo's exit status is not hard-wired to 0: a failing row makes it 1."""
    from gemini_np import gradcheck

    monkeypatch.setattr(gradcheck, "op_gradcheck_table",
                        lambda seed=0: [{"op": "broken", "worst": "x", "error": 1.0, "bound": 1e-7, "ok": False}])
    assert main(["demo", "--plots", str(tmp_path / "figs")]) == 1
    assert "FAIL" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the entry point


def test_command_line_needs_a_command(capsys):
    with pytest.raises(cli.UsageError, match="required"):
        build_parser().parse_args([])
    assert main([]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.startswith("error: ")


def test_python_dash_m_entry_point(tmp_path):
    done = run_cli("--help", cwd=tmp_path)
    assert done.returncode == 0
    for command in ("demo", "train", "evaluate", "gradcheck"):
        assert command in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_main_module_only_calls_the_cli():
    """Every subcommand lives in gemini_np/cli.py; __main__.py is a few lines."""
    source = (ROOT / "gemini_np" / "__main__.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 8 and "from .cli import main" in source
