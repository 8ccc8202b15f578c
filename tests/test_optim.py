"""SGD with momentum, bias-corrected Adam, gradient-norm clipping."""
import math

import numpy as np
import pytest

from gemini_np.nn import Linear
from gemini_np.optim import SGD, Adam, clip_grad_norm


def test_sgd_momentum_by_hand():
    p = {"w": np.array([1.0, -2.0])}
    opt = SGD(lr=0.1, momentum=0.5)
    opt.step(p, {"w": np.array([1.0, 1.0])})  # v = g = 1
    np.testing.assert_allclose(p["w"], [0.9, -2.1])
    opt.step(p, {"w": np.array([2.0, 0.0])})  # v = 0.5·1 + g = [2.5, 0.5]
    np.testing.assert_allclose(p["w"], [0.9 - 0.25, -2.1 - 0.05])


def adam_reference(grads, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
    """Adam for a scalar parameter starting at 0, written out step by step (Kingma & Ba, Algorithm 1)."""
    theta, m, v, out = 0.0, 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        theta -= lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(theta)
    return out


def test_adam_matches_the_algorithm_written_out():
    grads = [0.5, -1.0, 2.0, 0.1, -0.3]
    p = {"x": np.zeros(1)}
    opt = Adam(lr=0.01)
    got = []
    for g in grads:
        opt.step(p, {"x": np.array([g])})
        got.append(p["x"][0])
    np.testing.assert_allclose(got, adam_reference(grads), rtol=1e-12)


def test_adam_first_step_is_lr_times_the_sign_thanks_to_bias_correction():
    p = {"w": np.array([0.0, 0.0, 0.0])}
    Adam(lr=0.1).step(p, {"w": np.array([1e-3, -5.0, 30.0])})
    np.testing.assert_allclose(p["w"], [-0.1, 0.1, -0.1], rtol=1e-4)


def test_adam_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 2))
    grads = [rng.standard_normal((3, 2)) for _ in range(4)]
    p = {"w": w0.copy()}
    opt = Adam(lr=0.05, betas=(0.8, 0.99), eps=1e-6)
    tw = torch.tensor(w0, requires_grad=True)
    topt = torch.optim.Adam([tw], lr=0.05, betas=(0.8, 0.99), eps=1e-6)
    for g in grads:
        opt.step(p, {"w": g})
        tw.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(p["w"], tw.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_updates_are_in_place_so_the_model_trains():
    layer = Linear(3, 1, rng=0)
    x = np.random.default_rng(1).standard_normal((16, 3))
    target = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    opt = Adam(lr=0.05)
    w_before = layer.params["w"]
    for _ in range(300):
        y = layer.forward(x)
        layer.backward(2 * (y - target) / len(x))
        opt.step(layer.params, layer.grads)
    assert layer.params["w"] is w_before  # the module's own array was updated
    np.testing.assert_allclose(layer.params["w"][:, 0], [1.0, -2.0, 0.5], atol=1e-2)
    np.testing.assert_allclose(layer.params["b"], [0.3], atol=1e-2)


def test_clip_grad_norm():
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    original_a = grads["a"]
    norm = clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose([grads["a"][0], grads["b"][0]], [0.6, 0.8])
    assert original_a[0] == 3.0  # replaced in the dict, not modified in place
    small = {"a": np.array([0.1])}
    assert clip_grad_norm(small, 1.0) == pytest.approx(0.1) and small["a"][0] == 0.1
    with pytest.raises(ValueError):
        clip_grad_norm(grads, 0.0)


def test_clipping_inside_the_optimizer():
    p = {"w": np.zeros(2)}
    opt = SGD(lr=1.0, momentum=0.0, clip_norm=1.0)
    opt.step(p, {"w": np.array([30.0, 40.0])})
    np.testing.assert_allclose(p["w"], [-0.6, -0.8])
    assert opt.last_grad_norm == pytest.approx(50.0)


@pytest.mark.parametrize("make", [lambda: SGD(lr=0.1), lambda: Adam(lr=0.1)])
def test_float32_stays_float32(make):
    p = {"w": np.ones(3, np.float32)}
    opt = make()
    for _ in range(3):
        opt.step(p, {"w": np.full(3, 0.5, np.float32)})
    assert p["w"].dtype == np.float32
    state = getattr(opt, "m", None) or opt.velocity
    assert state["w"].dtype == np.float32


def test_errors():
    with pytest.raises(ValueError, match="same keys"):
        Adam().step({"a": np.zeros(1)}, {"b": np.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        SGD().step({"a": np.zeros(2)}, {"a": np.zeros(3)})
    with pytest.raises(ValueError, match="learning rate"):
        Adam(lr=0.0)
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.0)
    with pytest.raises(ValueError, match="betas"):
        Adam(betas=(1.0, 0.9))
