"""functional/registry.py: every differentiable op declared once, and every checker iterating over it.

The guard is structural: ``uncovered_ops()`` compares the public functions of
``gemini_np.functional.__all__`` with the functions the entries declare they cover
(no search of source text). Each entry's example must be valid and pass finite
differences, and each entry draws from its own generator, so adding or removing an
entry never changes another entry's inputs (or its row of the gradient-check table).
"""
import dataclasses

import numpy as np
import pytest

import gemini_np.functional as F
from gemini_np import gradcheck
from gemini_np.functional import registry
from gemini_np.functional.registry import LARGE, OPS, TINY, Example, OpSpec, public_ops, uncovered_ops
from helpers import as_tuple, assert_finite_differences

IDS = [op.name for op in OPS]


def _toy_forward(x):
    return 3.0 * x, None


def _toy_backward(dy, _):
    return 3.0 * dy


#: An op that is not in the package: what a newcomer appends to OPS.
TOY = OpSpec("toy: times three", _toy_forward, _toy_backward,
             lambda rng, s: Example({"x": rng.standard_normal((s.batch, s.d))}), covers=())


def test_every_public_op_is_covered_by_an_entry():
    assert uncovered_ops() == []


def test_the_guard_sees_a_public_op_without_an_entry(monkeypatch):
    """Structural, not textual: a function added to functional.__all__ and covered by no entry is reported."""

    def new_kernel_forward(x):  # pragma: no cover - never called
        return x

    monkeypatch.setattr(F, "new_kernel_forward", new_kernel_forward, raising=False)
    monkeypatch.setattr(F, "__all__", [*F.__all__, "new_kernel_forward"])
    assert uncovered_ops() == ["new_kernel_forward"]


def test_public_ops_are_the_functions_of_all():
    names = {f.__name__ for f in public_ops()}
    assert names == {n for n in F.__all__ if not isinstance(getattr(F, n), type)}
    assert "AttentionCache" not in names and "attention_forward" in names


def test_entries_have_unique_names_and_cover_public_functions():
    assert len(set(IDS)) == len(IDS)
    public = public_ops()
    for op in OPS:
        assert op.covers and set(op.covers) <= public, op.name


@pytest.mark.parametrize("sizes", [TINY, LARGE], ids=["TINY", "LARGE"])
@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_every_example_is_valid(op, sizes):
    """forward(**inputs, **static) and backward run; one gradient per input, shaped and typed like it."""
    example = op.make_example(sizes)
    assert example.inputs, "an entry needs at least one differentiable input"
    for name, x in example.inputs.items():
        assert type(x) is np.ndarray and x.dtype == np.float64, name  # host float64, in backward's order
    out, cache = op.forward(**example.inputs, **example.static)
    assert np.all(np.isfinite(out))
    dout = np.random.default_rng(0).standard_normal(np.shape(out))
    grads = as_tuple(op.backward(dout, cache))
    assert len(grads) == len(example.inputs)
    for (name, x), g in zip(example.inputs.items(), grads):
        assert g.shape == x.shape and g.dtype == np.float64, name
        assert np.all(np.isfinite(g)), name


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_every_entry_passes_finite_differences(op, seed):
    """Rung 1 at TINY size on the gradient-check table's own draw, compared with the tests'
    difference loop (independent of gemini_np.gradcheck's)."""
    example, upstream_seed = gradcheck.well_conditioned_example(op, seed=seed)
    errors = assert_finite_differences(op.forward, op.backward, example.inputs, example.static, seed=upstream_seed)
    assert set(errors) == set(example.inputs)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_the_well_conditioned_draw_has_no_tiny_gradient_entries(op):
    """What the table's draw promises: every gradient entry 0 or at least 1e-3 of its tensor's largest,
    and not every gradient zero (a check of zeros could not fail)."""
    example, upstream_seed = gradcheck.well_conditioned_example(op, seed=0)
    out, cache = op.forward(**example.inputs, **example.static)
    grads = as_tuple(op.backward(np.random.default_rng(upstream_seed).standard_normal(np.shape(out)), cache))
    assert any(np.any(g) for g in grads)
    for g in grads:
        magnitude = np.abs(g)
        largest = magnitude.max()
        assert np.all((magnitude <= 1e-12 * largest) | (magnitude >= gradcheck.MIN_SHARE * largest))


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_examples_are_reproducible_and_depend_on_the_seed(op):
    a, b, c = op.make_example(seed=0), op.make_example(seed=0), op.make_example(seed=1)
    for name in a.inputs:
        np.testing.assert_array_equal(a.inputs[name], b.inputs[name])
    assert any(not np.array_equal(a.inputs[n], c.inputs[n]) for n in a.inputs)


def _same_example(a: Example, b: Example) -> bool:
    if a.inputs.keys() != b.inputs.keys() or a.static.keys() != b.static.keys():
        return False
    pairs = [(a.inputs[k], b.inputs[k]) for k in a.inputs] + [(a.static[k], b.static[k]) for k in a.static]
    return all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in pairs)


def test_an_entrys_example_does_not_depend_on_the_other_entries():
    """Each entry has its own generator: with a toy entry prepended (every entry moves one
    place down) or an entry removed, every other entry's example is exactly the same."""
    prepended = (TOY, *OPS)
    for op, moved in zip(OPS, prepended[1:]):
        assert _same_example(op.make_example(), moved.make_example()), op.name
    removed = OPS[1:]
    for op, kept in zip(OPS[1:], removed):
        assert _same_example(op.make_example(), kept.make_example()), op.name
    # and the generators really differ between entries (not one shared stream restarted)
    first_draws = {registry.generator(op.name).standard_normal() for op in OPS}
    assert len(first_draws) == len(OPS)


@pytest.fixture(scope="module")
def table():
    return gradcheck.op_gradcheck_table(seed=0)


def test_gradcheck_table_has_one_row_per_entry_in_order(table):
    assert [r["op"] for r in table] == IDS
    assert all(r["bound"] == gradcheck.OP_BOUND == 1e-7 for r in table)


@pytest.mark.parametrize("seed", [0, 1])
def test_every_row_of_the_gradcheck_table_passes(seed):
    table = gradcheck.op_gradcheck_table(seed=seed)
    assert all(r["ok"] for r in table), [(r["op"], r["error"]) for r in table if not r["ok"]]


def test_a_new_entry_appears_in_the_gradcheck_table_and_changes_no_other_row(table, monkeypatch):
    """Adding an op is one registry entry: the table picks it up, and the other rows keep their numbers."""
    before = {r["op"]: r for r in table}
    monkeypatch.setattr(registry, "OPS", (TOY, *OPS))
    rows = gradcheck.op_gradcheck_table(seed=0)
    assert rows[0]["op"] == TOY.name and rows[0]["ok"]
    assert {r["op"]: r for r in rows[1:]} == before


def test_entries_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        OPS[0].name = "renamed"
    assert isinstance(OPS, tuple)


def test_the_checkers_take_their_ops_from_the_registry():
    """The array-API matrix, the CuPy stand-in and the generic validation tests parametrize over this
    very tuple (so a new entry appears in each of them at collection time, without an edit there)."""
    import test_array_api
    import test_cupy_path
    import test_validation

    assert test_array_api.OPS is test_cupy_path.OPS is test_validation.OPS is registry.OPS
