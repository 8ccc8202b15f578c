"""The README's demo command runs and reports every op passing."""
from gemini_np.__main__ import main


def test_demo_runs_and_every_op_passes(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "0.5761" in out and "0.4388" in out
    assert "FAIL" not in out
