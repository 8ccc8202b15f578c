"""gemini_np.nn.layers: Linear, LayerNorm, GroupedLinear, FeedForward, Embedding.

Every parameter and the input gradient against finite differences, float32 against float64.
"""
import numpy as np
import pytest

from gemini_np.gradcheck import check_module_gradients
from gemini_np.nn import Embedding, FeedForward, GroupedLinear, LayerNorm, Linear
from helpers import (
    COMPOSITE_BOUND,
    LEAF_BOUND,
    assert_module_float32_matches_float64,
    assert_module_input_gradient_passes,
    assert_module_parameters_pass,
)

X = np.random.default_rng(1).standard_normal((2, 5, 8))


def _layer_norm():
    """A LayerNorm whose gamma/beta are not the identity, so their gradients are generic."""
    ln = LayerNorm(8)
    rng = np.random.default_rng(3)
    ln.load_params({"gamma": rng.standard_normal(8), "beta": rng.standard_normal(8)})
    return ln


def run(module, x):
    return module.forward(x)


CASES = [
    ("linear", Linear(8, 3, rng=0), LEAF_BOUND),
    ("linear without bias", Linear(8, 3, bias=False, rng=0), LEAF_BOUND),
    ("layer norm", _layer_norm(), LEAF_BOUND),
    ("grouped linear", GroupedLinear(5, 8, 3, rng=0), LEAF_BOUND),
    ("feed-forward", FeedForward(8, 16, rng=0), COMPOSITE_BOUND),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, module, bound", CASES, ids=IDS)
def test_every_parameter_against_finite_differences(name, module, bound):
    assert_module_parameters_pass(module, run, X, bound)


@pytest.mark.parametrize("name, module, bound", CASES, ids=IDS)
def test_input_gradient_against_finite_differences(name, module, bound):
    assert_module_input_gradient_passes(module, run, X, bound)


@pytest.mark.parametrize("name, module, bound", CASES, ids=IDS)
def test_float32_stays_float32_and_agrees_with_float64(name, module, bound):
    assert_module_float32_matches_float64(module, run, X)


def test_linear_is_x_w_plus_b():
    layer = Linear(8, 3, rng=2)
    p = layer.params
    np.testing.assert_allclose(layer.forward(X), X @ p["w"] + p["b"], rtol=1e-14)
    assert set(Linear(8, 3, bias=False).params) == {"w"}


def test_feed_forward_is_two_linears_around_a_gelu():
    ffn = FeedForward(8, 16, rng=4)
    p = ffn.params
    h = X @ p["fc1.w"] + p["fc1.b"]
    gelu = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))
    np.testing.assert_allclose(ffn.forward(X), gelu @ p["fc2.w"] + p["fc2.b"], rtol=1e-12, atol=1e-14)


def test_embedding_gradient_and_padding_row():
    emb = Embedding(6, 4, padding_id=0, rng=0)
    ids = np.array([[1, 2, 0, 0], [3, 3, 5, 0]])
    out = emb.forward(ids)
    assert np.all(out[ids == 0] == 0)
    errors = check_module_gradients(emb, lambda: emb.forward(ids), seed=1, max_entries=None)
    assert errors["table"] < LEAF_BOUND
    assert np.all(emb.grads["table"][0] == 0) and np.all(emb.grads["table"][4] == 0)  # padding, unused
    assert emb.backward(np.ones_like(out)) is None  # token ids have no gradient
