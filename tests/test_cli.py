"""python -m gemini_np train / evaluate / gradcheck / demo, and their one-line errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gemini_np.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--samples", "48", "--epochs", "1", "--batch-size", "16", "--quiet"]


def run_cli(*args, env=None):
    """The real command in a fresh process (what a user sees, tracebacks included)."""
    return subprocess.run([sys.executable, "-m", "gemini_np", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300)


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
    done = run_cli("evaluate", str(tmp_path / "bad.npz"))
    assert done.returncode == 2
    assert_one_line_error(done.stderr)
    assert "bad.npz" in done.stderr


def test_missing_cupy_is_a_one_line_error_with_the_pip_command():
    try:
        from gemini_np.backend import set_backend

        set_backend("cupy")
    except Exception:
        pass
    else:
        set_backend("numpy")
        pytest.skip("CuPy and a GPU are available here")
    for args, env in ((["train", *TINY, "--backend", "cupy"], None), (["evaluate", "x.npz"], {"GEMINI_NP_BACKEND": "cupy"})):
        done = run_cli(*args, env=env)
        assert done.returncode == 2
        assert_one_line_error(done.stderr)
        assert "pip install" in done.stderr


def test_unknown_backend_name_is_a_one_line_error(capsys):
    assert main(["train", *TINY, "--backend", "tpu"]) == 2
    assert_one_line_error(capsys.readouterr().err)


def test_bad_option_values_are_one_line_errors(capsys):
    assert main(["train", "--samples", "10", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err)
    assert "multiple of 4" in err


def test_gradcheck_passes_and_lists_every_op_and_the_model(capsys):
    assert main(["gradcheck", "--entries", "2"]) == 0
    out = capsys.readouterr().out
    for row in ("softmax", "attention", "attention (blocked", "fusion attention", "patch attention", "linear",
                "layer norm", "embedding", "grouped linear", "model: text encoder", "model: image encoder", "model: fusion layer",
                "model: matching head", "model: d images", "whole model (61 tensors)"):
        assert row in out
    assert "FAIL" not in out and "all 19 checks pass" in out


def test_demo_ends_with_a_training_run_and_its_figures(tmp_path, capsys, monkeypatch):
    """The demo's training part (its real size runs in tests/test_smoke.py; here a tiny one)."""
    import gemini_np.commands as commands

    monkeypatch.setattr(commands, "DEMO_CONFIG", dict(samples=48, epochs=2, batch_size=16, dtype="float32"))
    assert commands.demo_training(tmp_path / "demo") is True
    out = capsys.readouterr()
    assert "A short training run: 48 image-caption pairs" in out.out
    assert "test accuracy" in out.out and f"figures saved to {tmp_path / 'demo'}" in out.out
    assert "epoch  2/2" in out.err  # the progress bar
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["attention.png", "curves.png"]
