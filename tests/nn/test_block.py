"""gemini_np.nn.block: the pre-LN encoder block, with each of its three attention sublayers."""
import numpy as np
import pytest

from gemini_np.functional import patchify
from gemini_np.nn import EncoderBlock
from helpers import (
    COMPOSITE_BOUND,
    assert_module_float32_matches_float64,
    assert_module_input_gradient_passes,
    assert_module_parameters_pass,
)

X = np.random.default_rng(1).standard_normal((2, 5, 8))
KEY_MASK = np.array([[True, True, True, False, False], [True] * 5])
PATCHES = patchify(np.random.default_rng(2).standard_normal((2, 4, 4, 8)), 2)  # (B, H/p, W/p, p·p, d)

CASES = [
    ("encoder block", EncoderBlock(8, 2, 16, rng=0), lambda m, x: m.forward(x, KEY_MASK), X),
    ("patch block, no FFN", EncoderBlock(8, 2, 0, "patch", rng=0), lambda m, x: m.forward(x), PATCHES),
    ("fusion block", EncoderBlock(8, 2, 16, "fusion", rng=0), lambda m, x: m.forward(x, KEY_MASK), X),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, module, run, x", CASES, ids=IDS)
def test_every_parameter_against_finite_differences(name, module, run, x):
    assert_module_parameters_pass(module, run, x, COMPOSITE_BOUND)


@pytest.mark.parametrize("name, module, run, x", CASES, ids=IDS)
def test_input_gradient_against_finite_differences(name, module, run, x):
    assert_module_input_gradient_passes(module, run, x, COMPOSITE_BOUND)


@pytest.mark.parametrize("name, module, run, x", CASES, ids=IDS)
def test_float32_stays_float32_and_agrees_with_float64(name, module, run, x):
    assert_module_float32_matches_float64(module, run, x)


def test_pre_ln_block_by_hand():
    """y = a + FFN(LN_2(a)) with a = x + Attn(LN_1(x)), each sublayer run on its own."""
    block = EncoderBlock(8, 2, 16, rng=3)
    y = block.forward(X, KEY_MASK)
    a = X + block.attn.forward(block.ln1.forward(X), KEY_MASK)
    np.testing.assert_allclose(y, a + block.ffn.forward(block.ln2.forward(a)), rtol=1e-13, atol=1e-14)


def test_without_a_feed_forward_the_block_is_attention_plus_residual():
    block = EncoderBlock(8, 2, 0, "patch", rng=4)
    assert not any(k.startswith(("ffn.", "ln2.")) for k in block.params)
    y = block.forward(PATCHES)
    np.testing.assert_allclose(y, PATCHES + block.attn.forward(block.ln1.forward(PATCHES)), rtol=1e-13, atol=1e-14)


def test_padded_keys_do_not_influence_real_tokens():
    block = EncoderBlock(8, 2, 16, rng=7)
    y = block.forward(X, KEY_MASK)
    changed = X.copy()
    changed[0, 3:] = 100.0  # garbage in the padded positions
    y2 = block.forward(changed, KEY_MASK)
    np.testing.assert_allclose(y2[0, :3], y[0, :3], rtol=1e-12, atol=1e-12)


def test_unknown_attention_kind_is_refused():
    with pytest.raises(ValueError, match="attention must be 'self', 'patch' or 'fusion', got 'cross'"):
        EncoderBlock(8, 2, 16, "cross")
