"""gemini_np.interop: the PyTorch twin against GeminiModel, weight for weight.

Float64, random *perturbed* parameters (a fresh model's matching matrix is zero, which
would make every gradient upstream of it zero), captions with padding, one of them
padding only. The errors are gemini_np.rel_error (CS231n's elementwise measure):
logits to 1e-12, every parameter gradient to 1e-10, optimizer steps and a short
training run to 1e-9. Skipped without torch.
"""
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason='PyTorch is not installed (pip install -e ".[torch]")')
F = torch.nn.functional

import gemini_np as gnp  # noqa: E402
from gemini_np.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from gemini_np.cli import checkpoint_extra, main as cli_main  # noqa: E402
from gemini_np.data import DataConfig, batches, load_split, model_inputs, take  # noqa: E402
from gemini_np.functional import bce_with_logits_backward, bce_with_logits_forward  # noqa: E402
from gemini_np.interop import (  # noqa: E402
    GeminiTwin,
    from_torch,
    load_checkpoint_to_torch,
    save_torch_checkpoint,
    to_torch,
)
from gemini_np.model import GeminiModel, ModelConfig  # noqa: E402
from gemini_np.optim import SGD, Adam  # noqa: E402
from gemini_np.train import TrainConfig, evaluate_model_on_split, learning_rate, train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOGIT_TOL, GRAD_TOL, STEP_TOL = 1e-12, 1e-10, 1e-9

#: Two small architectures: several layers of every kind, and the leanest one (no patch blocks, one head).
CONFIGS = {
    "deep": ModelConfig(vocab_size=7, image_size=4, patch_size=2, channels=3, d_model=8, n_heads=2, d_ff=16,
                        text_layers=2, image_layers=2, patch_layers=1, fusion_layers=2, seed=3),
    "lean": ModelConfig(vocab_size=9, image_size=6, patch_size=3, channels=2, d_model=4, n_heads=1, d_ff=6,
                        patch_layers=0, seed=4),
}
#: Padded captions, and one of padding only (its text queries have no key to attend to).
TOKENS = np.array([[2, 3, 4, 0], [5, 6, 1, 2], [3, 0, 0, 0], [0, 0, 0, 0]])


def perturbed_model(config: ModelConfig, seed: int = 0) -> GeminiModel:
    """A model whose every parameter is moved off its initial value (M off zero, gamma off one, biases on)."""
    model = GeminiModel(config)
    rng = np.random.default_rng(seed)
    model.load_params({k: v + 0.3 * rng.standard_normal(v.shape).astype(v.dtype) for k, v in model.params.items()})
    return model


def images_for(config: ModelConfig, batch: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.random((batch, config.image_size, config.image_size, config.channels)).astype(config.dtype)


def tokens_for(config: ModelConfig):
    return np.minimum(TOKENS, config.vocab_size - 1)


def worst(ours: dict, twin) -> tuple[float, str]:
    """The largest rel_error between gemini_np arrays and the twin's tensors of the same name, and its name."""
    errors = {name: gnp.rel_error(ours[name], p.detach().numpy()) for name, p in twin.named_parameters()}
    name = max(errors, key=errors.get)
    return errors[name], name


# ---------------------------------------------------------------- the twin itself


@pytest.mark.parametrize("name", CONFIGS)
def test_parameters_have_the_same_names_order_and_values(name):
    model = perturbed_model(CONFIGS[name])
    twin = to_torch(model)
    named = dict(twin.named_parameters())
    assert list(named) == list(model.params)
    for key, value in model.params.items():
        assert named[key].dtype == torch.float64 and named[key].requires_grad
        np.testing.assert_array_equal(named[key].detach().numpy(), value)
    assert twin.config == model.config
    assert list(twin.state_dict()) == list(model.params)  # no buffers: the state_dict is the checkpoint's contents


def test_the_twin_of_a_config_starts_from_gemini_np_initial_weights():
    config = CONFIGS["deep"]
    twin, model = GeminiTwin(config), GeminiModel(config)
    for key, p in twin.named_parameters():
        np.testing.assert_array_equal(p.detach().numpy(), model.params[key])


def test_the_twin_holds_copies_not_views():
    model = perturbed_model(CONFIGS["lean"])
    twin = to_torch(model)
    before = model.params["head.b"].copy()
    with torch.no_grad():
        twin.head.b += 1.0
    np.testing.assert_array_equal(model.params["head.b"], before)
    back = from_torch(twin)
    back.params["head.b"][...] = 7.0  # gemini_np's optimizers update in place
    assert float(twin.head.b.detach()) == pytest.approx(before[0] + 1.0)


@pytest.mark.parametrize("name", CONFIGS)
def test_logits_equal(name):
    config = CONFIGS[name]
    model = perturbed_model(config)
    tokens, images = tokens_for(config), images_for(config, len(TOKENS))
    ours = model.forward(tokens, images)
    theirs = to_torch(model)(torch.from_numpy(tokens), torch.from_numpy(images))
    assert theirs.shape == (len(TOKENS),) and theirs.dtype == torch.float64
    assert gnp.rel_error(ours, theirs.detach().numpy()) < LOGIT_TOL


@pytest.mark.parametrize("name", CONFIGS)
def test_every_parameter_gradient_equals_autograd(name):
    config = CONFIGS[name]
    model = perturbed_model(config)
    tokens, images = tokens_for(config), images_for(config, len(TOKENS))
    upstream = np.random.default_rng(2).standard_normal(len(TOKENS))  # a random dL/dlogits: sum() hides softmax bugs
    model.forward(tokens, images)
    dimages = model.backward(upstream)
    twin = to_torch(model)
    timages = torch.tensor(images, requires_grad=True)
    (twin(torch.from_numpy(tokens), timages) * torch.from_numpy(upstream)).sum().backward()
    errors = {key: gnp.rel_error(model.grads[key], p.grad.numpy()) for key, p in twin.named_parameters()}
    assert max(errors.values()) < GRAD_TOL, max(errors.items(), key=lambda kv: kv[1])
    assert gnp.rel_error(dimages, timages.grad.numpy()) < GRAD_TOL
    # the checks can fail: the padding row of the table gets no gradient, every other tensor does
    assert np.all(model.grads["text.embed.table"][0] == 0) and torch.all(twin.text.embed.table.grad[0] == 0)
    assert all(np.any(g != 0) for g in model.grads.values())


def test_a_wrong_detail_is_caught():
    """The comparison can fail: the twin with the erf form of GELU instead of tanh differs beyond the bound."""
    config = CONFIGS["deep"]
    model = perturbed_model(config)
    twin = to_torch(model)
    tokens, images = tokens_for(config), images_for(config, len(TOKENS))
    ours = model.forward(tokens, images)
    twin.text.blocks[0].ffn.forward = lambda x, ffn=twin.text.blocks[0].ffn: ffn.fc2(F.gelu(ffn.fc1(x)))
    theirs = twin(torch.from_numpy(tokens), torch.from_numpy(images)).detach().numpy()
    assert gnp.rel_error(ours, theirs) > 1e-6


def test_fusion_attention_is_sdpa_over_concatenated_features():
    """The identity the twin's FusionAttention states in a comment: summed logits with scale 1/√d_head
    equal one scaled_dot_product_attention over [Q_t, Q_i] and [K_t, K_i] with that explicit scale."""
    from gemini_np.interop.twin import split_heads

    config = CONFIGS["deep"]
    attn = to_torch(perturbed_model(config)).fusion.blocks[0].attn
    rng = np.random.default_rng(6)
    z = torch.from_numpy(rng.standard_normal((3, 5, config.d_model)))
    mask = torch.from_numpy(rng.random((3, 5)) > 0.3)
    mask[:, 0] = True
    with torch.no_grad():
        ours = attn(z, mask)
        q_t, k_t, q_i, k_i, v = (split_heads(z @ w, attn.n_heads)
                                 for w in (attn.w_q_text, attn.w_k_text, attn.w_q_image, attn.w_k_image, attn.w_v))
        out = F.scaled_dot_product_attention(torch.cat([q_t, q_i], -1), torch.cat([k_t, k_i], -1), v,
                                             attn_mask=mask[:, None, None, :], scale=attn.d_head ** -0.5)
        theirs = torch.cat(out.unbind(1), dim=-1) @ attn.w_o + attn.b_o  # merge the heads
    assert gnp.rel_error(ours.numpy(), theirs.numpy()) < LOGIT_TOL


# ---------------------------------------------------------------- optimizers and training


def bce_step(model, optimizer, tokens, images, labels):
    """One gemini_np training step: forward, BCE, backward, update. Returns the loss."""
    loss, cache = bce_with_logits_forward(model.forward(tokens, images), labels)
    model.backward(bce_with_logits_backward(1.0, cache))
    optimizer.step(model.params, model.grads)
    return float(loss)


def torch_step(twin, optimizer, tokens, images, labels):
    """The same step in PyTorch."""
    loss = F.binary_cross_entropy_with_logits(twin(torch.from_numpy(tokens), torch.from_numpy(images)),
                                              torch.from_numpy(labels))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


OPTIMIZERS = {
    # gemini_np's SGD (v <- mu v + g; p <- p - lr v) is torch's with dampening 0, no Nesterov
    "sgd": (lambda: SGD(lr=0.05, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    # both add eps to sqrt(v_hat), after the bias correction
    "adam": (lambda: Adam(lr=1e-2, betas=(0.9, 0.99), eps=1e-8),
             lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.9, 0.99), eps=1e-8)),
}


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_optimizer_steps_equal(kind):
    """One step, then two more (the momentum / moment estimates carry over)."""
    config = CONFIGS["deep"]
    model = perturbed_model(config)
    twin = to_torch(model)
    make_ours, make_theirs = OPTIMIZERS[kind]
    ours, theirs = make_ours(), make_theirs(twin.parameters())
    tokens, images = tokens_for(config), images_for(config, len(TOKENS))
    labels = np.array([1.0, 0.0, 1.0, 0.0])
    start = {k: v.copy() for k, v in model.params.items()}
    for step in range(3):
        loss = bce_step(model, ours, tokens, images, labels)
        assert torch_step(twin, theirs, tokens, images, labels) == pytest.approx(loss, rel=1e-12)
        error, name = worst(model.params, twin)
        assert error < STEP_TOL, (step, name, error)
    assert all(np.any(model.params[k] != start[k]) for k in start)  # every tensor moved


def test_a_short_training_run_gives_the_same_parameters():
    """Two epochs of the real protocol's loop on real data (same batches, same warm-up and cosine schedule)."""
    config = TrainConfig(samples=48, epochs=2, batch_size=16, warmup=3, lr=3e-3,
                         model=ModelConfig(d_model=8, n_heads=2, d_ff=16, seed=5))
    train_set, _ = load_split(config.data_config())
    tokens, images, labels = model_inputs(train_set, "float64")
    model = perturbed_model(config.model.complete(vocab_size=len(train_set.vocab)))
    twin = to_torch(model)
    ours, theirs = Adam(lr=config.lr), torch.optim.Adam(twin.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    steps = config.epochs * -(-len(train_set) // config.batch_size)
    step = 0
    for _ in range(config.epochs):
        for index in batches(len(train_set), config.batch_size, rng):
            step += 1
            ours.lr = learning_rate(config, step, steps)
            theirs.param_groups[0]["lr"] = ours.lr
            batch = take(tokens, index), take(images, index), take(labels, index)
            assert torch_step(twin, theirs, *batch) == pytest.approx(bce_step(model, ours, *batch), rel=1e-12)
    assert step == 6
    error, name = worst(model.params, twin)
    assert error < STEP_TOL, (name, error)


# ---------------------------------------------------------------- round trips, checkpoints, dtypes


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_trips_are_exact(dtype):
    model = perturbed_model(ModelConfig(**{**CONFIGS["deep"].to_dict(), "dtype": dtype}))
    twin = to_torch(model)
    back = from_torch(twin)
    assert back.config == model.config and back.dtype == dtype
    for key, value in model.params.items():
        assert back.params[key].dtype == value.dtype
        np.testing.assert_array_equal(back.params[key], value)
    again = to_torch(back)
    for (key, p), (_, q) in zip(twin.named_parameters(), again.named_parameters()):
        assert torch.equal(p, q), key


def test_float32_models_give_float32_twins():
    config = ModelConfig(**{**CONFIGS["deep"].to_dict(), "dtype": "float32"})
    model = perturbed_model(config)
    twin = to_torch(model)
    assert twin.dtype == torch.float32 and {p.dtype for p in twin.parameters()} == {torch.float32}
    tokens, images = tokens_for(config), images_for(config, len(TOKENS))
    ours = model.forward(tokens, images)
    theirs = twin(torch.from_numpy(tokens), torch.from_numpy(images))
    assert ours.dtype == np.float32 and theirs.dtype == torch.float32
    np.testing.assert_allclose(theirs.detach().numpy(), ours, rtol=1e-4, atol=1e-5)  # float32 rounding, not a bug


@pytest.fixture(scope="module")
def tiny_run():
    """The brief's tiny training run, and its checkpoint info."""
    result = train(TrainConfig(samples=48, epochs=1, batch_size=16, model=ModelConfig(d_model=8, n_heads=2, d_ff=16)),
                   progress=False)
    return result, checkpoint_extra(result)


def test_a_checkpoint_round_trip_through_the_twin_evaluates_the_same(tiny_run, tmp_path, capsys):
    result, extra = tiny_run
    original = save_checkpoint(tmp_path / "original.npz", result.model, extra)
    twin, info = load_checkpoint_to_torch(original)
    assert isinstance(twin, GeminiTwin) and info["data"] == extra["data"]
    copy = save_torch_checkpoint(tmp_path / "through_torch.npz", twin, info)
    # the file: the same parameters bit for bit, the same config and data split
    model, copy_info = load_checkpoint(copy)
    for key, value in result.model.params.items():
        np.testing.assert_array_equal(model.params[key], value)
    assert copy_info["model"] == info["model"] and copy_info["data"] == info["data"]
    # `python -m gemini_np evaluate` prints the same line for both
    capsys.readouterr()
    assert cli_main(["evaluate", str(original)]) == 0
    first = capsys.readouterr().out
    assert cli_main(["evaluate", str(copy)]) == 0
    assert capsys.readouterr().out == first
    assert f"test accuracy {result.metrics['test_accuracy']:.4f}" in first
    # and the twin itself predicts the held-out pairs exactly as gemini_np does
    _, test_set = load_split(DataConfig.from_dict(info["data"]))
    tokens, images, labels = model_inputs(test_set, "float64")
    with torch.no_grad():
        logits = twin(torch.from_numpy(tokens), torch.from_numpy(images)).numpy()
    accuracy = float(np.mean((logits > 0) == (labels > 0.5)))
    assert accuracy == evaluate_model_on_split(result.model, DataConfig.from_dict(info["data"]))["accuracy"]


def test_a_save_describes_its_own_model_whatever_extra_says(tiny_run, tmp_path):
    result, extra = tiny_run
    twin = to_torch(result.model)
    path = save_torch_checkpoint(tmp_path / "m.npz", twin, {**extra, "model": {"d_model": 999}, "version": 0})
    _, info = load_checkpoint(path)  # loads: format, version and config are the module's own
    assert info["model"] == twin.config.to_dict()


# ---------------------------------------------------------------- errors and the optional dependency


def test_bad_inputs_are_one_clear_error():
    config = CONFIGS["lean"]
    twin = to_torch(perturbed_model(config))
    tokens, images = torch.from_numpy(tokens_for(config)), torch.from_numpy(images_for(config, len(TOKENS)))
    with pytest.raises(TypeError, match="images must be a torch.float64"):
        twin(tokens, images.float())
    with pytest.raises(TypeError, match="tokens must be an int64"):
        twin(tokens.double(), images)
    with pytest.raises(ValueError, match=r"images must have shape .* = \(B, 6, 6, 2\), got \(4, 3, 6, 2\)"):
        twin(tokens, images[:, :3])
    with pytest.raises(ValueError, match="same batch size"):
        twin(tokens[:2], images)
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, vocab_size=9\)"):
        twin(tokens + 9, images)
    with pytest.raises(TypeError, match="needs a gemini_np GeminiModel"):
        to_torch(twin)
    with pytest.raises(TypeError, match="needs a GeminiTwin"):
        from_torch(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="must be a gemini_np.model.ModelConfig"):
        GeminiTwin({"vocab_size": 3})
    with pytest.raises(ValueError, match="vocab_size=None"):
        GeminiTwin(ModelConfig())


def run_python(code):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_importing_gemini_np_never_imports_torch():
    done = run_python("import sys, gemini_np, gemini_np.interop, gemini_np.model, gemini_np.train, gemini_np.cli\n"
                      "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_torch_the_error_is_one_line_naming_the_fix(tmp_path, tiny_run):
    hide_torch = "import sys; sys.modules['torch'] = None\n"  # what a missing torch looks like to `import torch`
    done = run_python(hide_torch + "from gemini_np.interop import to_torch")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("gemini_np.interop._torch.TorchMissing: gemini_np.interop needs PyTorch")
    assert "pip install torch" in last and 'pip install -e ".[torch]"' in last
    result, extra = tiny_run
    good = save_checkpoint(tmp_path / "m.npz", result.model, extra)
    argv = ["--checkpoint", str(good), "--save", str(tmp_path / "o.npz")]
    done = run_python(hide_torch + f"from gemini_np.interop.ddp import main\nsys.exit(main({argv!r}))")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: gemini_np.interop needs PyTorch, which is not installed: pip install torch " \
                                  '(the CPU build is enough), or from this repository pip install -e ".[torch]"'
    assert not (tmp_path / "o.npz").exists()


def test_ddp_command_errors_are_one_line(tmp_path, tiny_run, capsys):
    from gemini_np.interop.ddp import main as ddp_main

    result, extra = tiny_run
    good = save_checkpoint(tmp_path / "m.npz", result.model, extra)
    out = str(tmp_path / "o.npz")
    cases = [
        (["--checkpoint", str(tmp_path / "missing.npz"), "--save", out], "no checkpoint at"),
        (["--checkpoint", str(good), "--save", str(tmp_path)], "is a folder"),
        (["--checkpoint", str(good), "--save", out, "--nproc", "0"], "--nproc must be a positive"),
        (["--checkpoint", str(good), "--save", out, "--lr", "-1"], "--lr"),
        (["--checkpoint", str(good)], "required: --save"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert ddp_main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    # a real process: the same one line, no traceback
    done = subprocess.run([sys.executable, "-m", "gemini_np.interop.ddp", *cases[0][0]], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: no checkpoint at") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.npz").exists()


# ---------------------------------------------------------------- scaling out: DistributedDataParallel


@pytest.mark.slow
def test_ddp_on_two_processes_keeps_the_ranks_identical_and_saves_a_checkpoint_evaluate_reads(tiny_run, tmp_path):
    result, extra = tiny_run
    start = save_checkpoint(tmp_path / "start.npz", result.model, extra)
    out = tmp_path / "continued.npz"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "gemini_np.interop.ddp", "--checkpoint", str(start), "--nproc", "2",
                           "--epochs", "2", "--lr", "1e-3", "--save", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    digests = dict(re.findall(r"^rank (\d): parameters sha256 ([0-9a-f]{64})$", done.stdout, re.M))
    assert sorted(digests) == ["0", "1"] and digests["0"] == digests["1"], done.stdout
    # the digest is of the parameters rank 0 saved, and they moved
    model, info = load_checkpoint(out)
    h = hashlib.sha256()
    for key, value in model.params.items():
        h.update(key.encode())
        h.update(np.ascontiguousarray(value).tobytes())
    assert h.hexdigest() == digests["0"]
    assert any(np.any(model.params[k] != v) for k, v in result.model.params.items())
    assert info["data"] == extra["data"] and info["ddp"]["nproc"] == 2 and "metrics" not in info
    evaluated = subprocess.run([sys.executable, "-m", "gemini_np", "evaluate", str(out)], capture_output=True,
                               text=True, env=env, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    expected = evaluate_model_on_split(model, DataConfig.from_dict(info["data"]))
    assert f"test accuracy {expected['accuracy']:.4f} on {expected['pairs']} held-out pairs" in evaluated.stdout


@pytest.mark.slow
def test_a_failing_worker_is_one_line_and_status_1(tmp_path):
    """A worker that fails (here: the checkpoint vanished after the parent checked it) stops the run."""
    script = tmp_path / "run.py"
    script.write_text("import sys\nimport gemini_np.interop.ddp as ddp\n"
                      "if __name__ == '__main__':\n"
                      "    ddp._check_options = lambda options: None  # skip the parent's checks\n"
                      f"    sys.exit(ddp.main(['--checkpoint', {str(tmp_path / 'gone.npz')!r}, "
                      f"'--save', {str(tmp_path / 'out.npz')!r}]))\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.fullmatch(r"error: rank [01] failed: gemini_np\.checkpoint\.CheckpointError: no checkpoint at .*gone\.npz",
                        lines[0]), lines  # both ranks fail; the first one seen is reported
    assert not (tmp_path / "out.npz").exists()
