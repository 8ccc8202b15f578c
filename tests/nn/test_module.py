"""gemini_np.nn.module: the Module base class (flat dotted parameter keys, gradients,
set_param / load_params checks, seeds, dtypes) and ModuleList."""
import numpy as np
import pytest

from gemini_np.nn import EncoderBlock, Linear, ModuleList, MultiHeadSelfAttention
from gemini_np.nn.module import resolve_rng


def test_params_and_grads_share_flat_dotted_keys():
    block = EncoderBlock(8, 2, 16, rng=0)
    assert set(block.params) == set(block.grads)
    assert "attn.w_q" in block.params and "ffn.fc1.w" in block.params and "ln2.gamma" in block.params
    stack = ModuleList([EncoderBlock(8, 2, 16, rng=i) for i in range(2)])
    assert "1.attn.w_o" in stack.params and len(stack) == 2
    assert stack[1] is list(stack)[1]
    assert block.num_params() == sum(p.size for p in block.params.values())


def test_backward_overwrites_gradients_and_zero_grad_clears_them():
    layer = Linear(4, 2, rng=0)
    x = np.random.default_rng(1).standard_normal((3, 4))
    layer.forward(x)
    layer.backward(np.ones((3, 2)))
    first = layer.grads["w"].copy()
    assert np.any(first)
    layer.forward(x)
    layer.backward(np.ones((3, 2)))
    np.testing.assert_array_equal(layer.grads["w"], first)  # not accumulated
    layer.zero_grad()
    assert not any(np.any(g) for g in layer.grads.values())


def test_set_param_and_load_params_validate():
    layer = Linear(4, 2, rng=0)
    with pytest.raises(ValueError, match=r"parameter 'w' has shape \(4, 2\), got \(2, 4\)"):
        layer.set_param("w", np.zeros((2, 4)))
    with pytest.raises(TypeError, match="parameter 'w' has dtype float64, got float32"):
        layer.set_param("w", np.zeros((4, 2), np.float32))
    with pytest.raises(KeyError, match="no parameter named 'nope'"):
        layer.set_param("nope", np.zeros(2))
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        layer.load_params({"w": np.zeros((4, 2))})
    new = np.ones((4, 2))
    layer.set_param("w", new)
    assert layer.params["w"] is new and not np.any(layer.grads["w"])


def test_set_param_reaches_nested_modules():
    block = EncoderBlock(8, 2, 16, rng=0)
    value = np.full((8, 16), 0.5)
    block.set_param("ffn.fc1.w", value)
    assert block.ffn.fc1.params["w"] is value
    with pytest.raises(KeyError, match="no parameter named 'ffn.fc9.w'"):
        block.set_param("ffn.fc9.w", value)


def test_same_seed_same_weights():
    a, b, c = (MultiHeadSelfAttention(8, 2, rng=s) for s in (1, 1, 2))
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert not np.array_equal(a.params["w_q"], c.params["w_q"])


def test_resolve_rng():
    g = np.random.default_rng(5)
    assert resolve_rng(g) is g
    assert resolve_rng(None).standard_normal() == np.random.default_rng(0).standard_normal()
    assert resolve_rng(np.int64(3)).standard_normal() == np.random.default_rng(3).standard_normal()
    with pytest.raises(TypeError, match="rng must be an int seed or a numpy.random.Generator, got float"):
        resolve_rng(1.5)
    with pytest.raises(ValueError, match="non-negative"):
        resolve_rng(-1)


def test_module_dtype_is_checked_and_used():
    assert Linear(4, 2, dtype="float32").params["w"].dtype == np.float32
    assert Linear(4, 2, dtype=np.float32).dtype == "float32"
    with pytest.raises(ValueError, match="dtype must be 'float64' or 'float32'"):
        Linear(4, 2, dtype="float16")
    with pytest.raises(TypeError, match="dtype must be 'float64' or 'float32'"):
        Linear(4, 2, dtype=3.5)
