"""benchmarks/bench_attention.py runs (tiny shapes, one repeat), so the README's command cannot rot.

Only that it runs and prints its tables is tested here; its timings are measurements, never
asserted (performance is measured, never timed in tests).
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import load_script

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_attention.py"


def run_bench(*args, env=None):
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def has_torch():
    return importlib.util.find_spec("torch") is not None


def test_quick_run_prints_the_main_and_the_blocked_table():
    result = run_bench("--quick", "--repeats", "1", "--shapes", "2,32,8", "3,16,4", "--dtypes", "float32")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "matmul ceiling" in out
    assert "  2    32   8  float32 |" in out and "  3    16   4  float32 |" in out
    assert ("gemini/torch" in out) == has_torch()
    assert "float32        plain |" in out and "float32    block 256 |" in out


def test_without_torch_the_torch_columns_are_left_out():
    result = run_bench("--no-torch", "--no-blocked", "--quick", "--repeats", "1", "--shapes", "2,16,8",
                       "--dtypes", "float64")
    assert result.returncode == 0, result.stderr
    assert "  2    16   8  float64 |" in result.stdout
    assert "torch ms" not in result.stdout and "OMP_WAIT_POLICY" not in result.stdout


@pytest.mark.parametrize("bad", ["1,2", "0,16,8", "a,b,c"])
def test_a_bad_shape_is_a_usage_error_naming_it(bad):
    result = run_bench("--shapes", bad)
    assert result.returncode == 2
    assert f"got '{bad}'" in result.stderr and "Traceback" not in result.stderr


def test_omp_wait_policy_is_passive_by_default_and_an_explicit_setting_wins(monkeypatch):
    bench = load_script(SCRIPT)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert bench.set_omp_wait_policy("default").startswith("unset")
    assert "OMP_WAIT_POLICY" not in os.environ
    assert bench.set_omp_wait_policy("passive").startswith("PASSIVE")
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert bench.set_omp_wait_policy("passive") == "ACTIVE (from the environment)"
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
