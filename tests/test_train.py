"""Training: the article's protocol reaches its target, is deterministic, and the README says what the code does."""
import io
import math
import re
from pathlib import Path

import numpy as np
import pytest

from gemini_np.checkpoint import load_checkpoint, save_checkpoint
from gemini_np.commands import checkpoint_extra
from gemini_np.train import (
    ProgressBar,
    TrainConfig,
    evaluate_model_on_split,
    learning_rate,
    save_plots,
    train,
)

README = Path(__file__).resolve().parent.parent / "README.md"
SMALL = dict(samples=96, epochs=2, batch_size=16, d_model=8, n_heads=2, d_ff=16)


@pytest.fixture(scope="session")
def protocol_run():
    """One run of ``python -m gemini_np train``'s defaults, shared by every test that needs it."""
    return train(TrainConfig(), progress=False)


def readme_rows():
    block = README.read_text(encoding="utf-8").split("<!-- results:start -->")[1].split("<!-- results:end -->")[0]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("run", "---"):
            rows[cells[0]] = cells
    return rows


def test_the_articles_protocol_reaches_095(protocol_run):
    m = protocol_run.metrics
    assert (m["samples"], m["train_pairs"], m["test_pairs"], m["epochs"], m["batch_size"]) == (1000, 800, 200, 10, 32)
    assert m["optimizer"] == "adam" and m["ablate"] is None
    assert m["test_accuracy"] >= 0.95, m
    assert len(protocol_run.history) == 10 and len(protocol_run.step_losses) == 250
    assert protocol_run.history[-1]["loss"] < protocol_run.history[0]["loss"]


def test_readme_table_shows_what_the_code_produces(protocol_run):
    rows = readme_rows()
    assert set(rows) == {"full model", "text replaced by a constant", "image replaced by a constant"}
    full = rows["full model"]
    assert full[1] == f"{protocol_run.metrics['test_accuracy']:.4f}"
    assert full[2] == f"{protocol_run.metrics['train_accuracy']:.4f}"
    for cells in rows.values():
        assert math.isfinite(float(cells[3])) and float(cells[3]) > 0  # a time, not comparable exactly
    assert f"{protocol_run.metrics['parameters']:,} parameters" in README.read_text(encoding="utf-8")


def test_a_saved_checkpoint_reloads_to_the_identical_test_accuracy(protocol_run, tmp_path):
    path = save_checkpoint(tmp_path / "protocol.npz", protocol_run.model, checkpoint_extra(protocol_run))
    model, info = load_checkpoint(path)
    again = evaluate_model_on_split(model, info["data"])
    assert again["accuracy"] == protocol_run.metrics["test_accuracy"]
    assert again["loss"] == protocol_run.metrics["test_loss"]


@pytest.mark.slow
@pytest.mark.parametrize("ablate, label", [("text", "text replaced by a constant"), ("image", "image replaced by a constant")])
def test_either_modality_alone_stays_near_chance(ablate, label):
    result = train(TrainConfig(ablate=ablate), progress=False)
    assert result.metrics["test_accuracy"] <= 0.60
    assert readme_rows()[label][1] == f"{result.metrics['test_accuracy']:.4f}"


def test_training_is_deterministic_for_a_seed():
    a, b = (train(TrainConfig(**SMALL), progress=False) for _ in range(2))
    assert a.step_losses == b.step_losses and a.history == b.history
    for name, p in a.model.params.items():
        np.testing.assert_array_equal(p, b.model.params[name])
    c = train(TrainConfig(**SMALL, seed=1), progress=False)
    assert c.step_losses != a.step_losses


def test_float32_training_stays_float32():
    result = train(TrainConfig(**SMALL, dtype="float32"), progress=False)
    assert all(p.dtype == np.float32 for p in result.model.params.values())
    assert result.metrics["dtype"] == "float32"


def test_learning_rate_warms_up_then_decays():
    config = TrainConfig(lr=1e-2, warmup=10, cosine=True)
    rates = [learning_rate(config, step, 100) for step in range(1, 101)]
    assert rates[0] == pytest.approx(1e-3, rel=1e-3)
    assert max(rates) <= 1e-2 and rates[9] == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * 9 / 100)))
    assert rates[-1] < 1e-4
    assert learning_rate(TrainConfig(lr=0.1, warmup=0, cosine=False), 7, 100) == 0.1


def test_progress_bar_reports_epoch_loss_and_accuracy():
    stream = io.StringIO()
    train(TrainConfig(**SMALL), progress=True, stream=stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # not a terminal: one finished line per epoch
    assert re.fullmatch(r"epoch  1/2 \[#+\] 5/5 loss \d\.\d{3} acc \d\.\d{3} test_acc \d\.\d{3}", lines[0])
    bar = ProgressBar(4, "x", stream=io.StringIO(), enabled=False)
    bar.update(1, loss=0.5)
    bar.close()
    assert bar.stream.getvalue() == ""


def test_plots_are_written(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    result = train(TrainConfig(**SMALL), progress=False)
    paths = save_plots(result, tmp_path / "figures")
    assert [p.name for p in paths] == ["curves.png", "attention.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="ablate"):
        TrainConfig(ablate="audio")
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="multiple of 4"):
        train(TrainConfig(samples=10), progress=False)
