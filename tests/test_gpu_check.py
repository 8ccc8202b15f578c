"""benchmarks/gpu_check.py cannot rot: its CPU dry run (array_api_strict on device1
standing in for CuPy) runs the same parity code as the GPU run, here, on every commit.

The script checks every entry of the op registry; so do these tests (a new op shows up in
the report without any edit here), and they break entries *of the registry* to see the
script fail.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gemini_np.functional import registry
from gemini_np.functional.registry import OPS
from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


@pytest.fixture
def gpu_check():
    return load_script(SCRIPT)


def _has_model() -> bool:
    return importlib.util.find_spec("gemini_np.model") is not None and importlib.util.find_spec("gemini_np.optim") is not None


def test_dry_run_passes_and_reports_every_op_in_both_dtypes(gpu_check, tmp_path, capsys):
    out = tmp_path / "report" / "gpu.md"
    assert gpu_check.main(["--dry-run", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "all parity checks passed" in printed
    report = out.read_text(encoding="utf-8")
    for op in OPS:
        for dtype in ("float64", "float32"):
            assert f"| {op.name} | {dtype} |" in report, f"{op.name} {dtype} missing from the report"
    if _has_model():
        for row in ("| model step (sgd) | float64 |", "| model step (adam) | float64 |", "| model step (sgd) | float32 |"):
            assert row in report
    assert "| (batch·heads, n, d) | dtype | NumPy CPU ms |" in report  # the (tiny) timing table
    assert "FAIL" not in report
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["gpu.md", "report"]  # and nothing else


def test_a_new_registry_entry_is_checked_without_editing_the_script(gpu_check, monkeypatch, capsys):
    toy = registry.OpSpec("toy: times three", lambda x: (3.0 * x, None), lambda dy, _: 3.0 * dy,
                          lambda rng, s: registry.Example({"x": rng.standard_normal((s.batch, s.d))}), covers=())
    monkeypatch.setattr(registry, "OPS", (*OPS, toy))
    assert gpu_check.main(["--dry-run", "--no-timing"]) == 0
    printed = capsys.readouterr().out
    assert sum(" ok   toy: times three " in line for line in printed.splitlines()) == 2  # float64 and float32


def _replace_forward(monkeypatch, name, wrap):
    """Replace the forward of the registry entry ``name`` with wrap(original forward)."""
    ops = tuple(dataclasses.replace(op, forward=wrap(op.forward)) if op.name == name else op for op in registry.OPS)
    assert ops != registry.OPS, name
    monkeypatch.setattr(registry, "OPS", ops)


def test_dry_run_fails_on_a_wrong_value_and_on_a_float64_upcast(gpu_check, monkeypatch, capsys):
    """The check must be able to fail: break two kernels *on the target only* (as a
    GPU-specific bug would be; the NumPy reference runs the same code) and expect exit 1."""

    def off_by_a_little(forward):
        def wrong(x):
            y, cache = forward(x)
            if gpu_check.array_namespace(x) is not np:
                y = y * 1.001  # a 0.1% error: far above either tolerance
            return y, cache

        return wrong

    def upcasting(forward):
        def wrong(x):
            y, cache = forward(x)
            xp = gpu_check.array_namespace(y)
            return xp.astype(y, xp.float64), cache

        return wrong

    _replace_forward(monkeypatch, "gelu", off_by_a_little)
    _replace_forward(monkeypatch, "relu", upcasting)
    assert gpu_check.main(["--dry-run", "--no-timing"]) == 1
    printed = capsys.readouterr().out
    failed = [line for line in printed.splitlines() if line.strip().startswith("FAIL")]
    assert any("gelu" in line and "float64" in line for line in failed)
    assert any("gelu" in line and "float32" in line for line in failed)
    assert any("relu" in line and "float32" in line and "is float64, expected float32" in line for line in failed)
    assert "FAILED" in printed


def test_an_op_that_raises_is_reported_and_the_rest_still_run(gpu_check, monkeypatch, capsys):
    def broken(forward):
        def explode(*args, **kwargs):
            raise RuntimeError("kernel exploded")

        return explode

    _replace_forward(monkeypatch, "layer norm", broken)
    assert gpu_check.main(["--dry-run", "--no-timing"]) == 1
    printed = capsys.readouterr().out
    assert "raised RuntimeError: kernel exploded" in printed
    assert " ok   gelu " in printed  # later ops were still checked


def test_without_cupy_the_gpu_run_exits_2_with_the_pip_command(gpu_check, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` fails, installed or not
    assert gpu_check.main(["--no-timing"]) == 2
    err = capsys.readouterr().err
    assert "pip install cupy-cuda12x" in err and "pip install cupy-cuda13x" in err


def test_the_script_runs_as_the_gpu_machine_runs_it():
    """`PYTHONPATH=. python3 benchmarks/gpu_check.py ...` from the repository root, here with --dry-run."""
    env = dict(os.environ, PYTHONPATH=".")
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--dry-run", "--no-timing"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "[parity]" in result.stdout and "all parity checks passed" in result.stdout


def test_the_gpu_code_path_runs_against_a_cupy_stand_in(gpu_check, monkeypatch, tmp_path, capsys):
    """Not the dry run: the real CuPy branch (Target on cupy, CUDA events, memory pool, device ids),
    with tests/fake_cupy.py standing in for CuPy, so the one GPU run cannot die of a typo."""
    import fake_cupy

    fake_cupy.install(monkeypatch)
    out = tmp_path / "gpu.md"
    assert gpu_check.main(["--out", str(out), "--repeats", "2", "--sizes", "2x32x8,1x64x8", "--cpu-seconds", "0",
                           "--block-size", "16"]) == 0
    printed = capsys.readouterr().out
    assert "CuPy 14.2.0+fake on Fake GPU" in printed and "CUDA runtime 13.0" in printed
    report = out.read_text(encoding="utf-8")
    assert "| (2, 32, 8) | float32 |" in report and "| (1, 64, 8) | float64 |" in report
    assert "CuPy GPU ms" in report and "blocked b=16 ms" in report and "FAIL" not in report
    blocked_cells = [line.rsplit("|", 2)[-2].strip() for line in report.splitlines() if line.startswith("| (1, 64, 8)")]
    assert blocked_cells and all(cell != "–" for cell in blocked_cells)  # n = 64 >= 4 x 16: the blocked path was timed


def test_bad_sizes_are_refused(gpu_check, capsys):
    with pytest.raises(SystemExit):
        gpu_check.main(["--dry-run", "--sizes", "32x512"])
    assert "sizes must look like" in capsys.readouterr().err


def _real_gpu_available() -> bool:
    if "cupy" in sys.modules and sys.modules["cupy"] is None:
        return False
    from gemini_np.backend import BackendError, _load_cupy

    try:
        _load_cupy()
    except BackendError:
        return False
    return True


@pytest.mark.skipif(not _real_gpu_available(), reason="needs CuPy and a GPU (CPU CI runs the dry run and the stand-in above)")
def test_real_gpu_parity(gpu_check):
    """On a machine with CuPy and a GPU, the real parity check (no timing) must pass."""
    assert gpu_check.main(["--no-timing"]) == 0
