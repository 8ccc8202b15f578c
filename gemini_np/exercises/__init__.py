""""Your turn" exercises: checkers that diagnose the functions students write in the tutorials.

    from gemini_np.exercises import check
    check(my_softmax_backward, "softmax_backward")   # or check(my_softmax_backward), or check_softmax_backward(fn)

``check`` prints one line and returns a :class:`Result` (True only on a pass):

    [PASS] ...            then a few lines of worked explanation
    [FAIL] ...            with a hint that names the mistake
    [NOT ATTEMPTED] ...   the placeholder still raises NotImplementedError (or the body is empty)

It prints also when it is not the last line of a notebook cell or runs in a
script, and the line appears once (see :mod:`.result`). It never raises,
whatever it is given, except on Ctrl-C.

How a check diagnoses: it runs the student's function on a few input cases
(fixed seeds, distinct sizes, batch dims, extreme logits), compares with the
answer of gemini_np's own ops, and when they differ compares with a catalogue
of typical wrong answers on the same inputs (softmax over the wrong axis, a
missing row-sum, 1/√(2 d_k) in fusion, a plain reshape, ...) to name the
mistake. Exceptions from the student's code are translated (which arrays a
failed matrix product multiplied, a missing ``keepdims``, dropped batch dims).
A function that calls gemini_np's own implementation of the exercised op is
refused ("write it yourself").

========================  ==================================================  ===========
exercise                  the student writes                                  notebook
========================  ==================================================  ===========
``worked_example``        ``worked_example(h, d_k)``: h (n, d) -> P (n, n),   01 worked
                          row-wise softmax(h hᵀ / √d_k)                        example
``softmax``               ``softmax(x)``: (..., n) -> (..., n) along the      02 attention
                          last axis, finite for logits of ±1e4
``softmax_backward``      ``softmax_backward(dy, y) -> dx``                   02 attention
``attention_backward``    ``attention_backward(dout, q, k, v)``               02 attention
                          ``-> (dq, dk, dv)``, 2-D, scale 1/√d_k, no mask
``patchify``              ``patchify(x, p)``: (..., H, W, C) ->               03 patch
                          (..., H/p, W/p, p·p, C), row-major in a patch        attention
``patch_attention``       ``patch_attention(q, k, v, p) -> out``              03 patch
                          (..., H, W, d_v), scale 1/√d_k                       attention
``fusion_backward``       ``fusion_backward(dout, q_t, k_t, q_i, k_i, v)``    04 fusion
                          ``-> (dq_t, dk_t, dq_i, dk_i, dv)``, 2-D
``split_heads``           ``split_heads(x, n_heads)``: (B, n, d) ->           05 multi-head
                          (B, h, n, d/h), contiguous blocks of features
``sinusoidal_positions``  ``sinusoidal_positions(n, d)`` -> (n, d),           05 multi-head
                          sines in the first half, cosines in the second
``bce_backward``          ``bce_backward(logits, labels) -> dlogits``,        06 training
                          mean BCE over N logits
``masked_mean_backward``  ``masked_mean_backward(dout, mask) -> dx``:         06 training
                          dout (B, d), mask bool (B, n) -> dx (B, n, d)
``fusion_logits``         ``fusion_logits(text, patches, w_qt, w_kt, w_qi,``  07 errata
                          ``w_ki) -> S`` (n+m, n+m) on Z = [text; patches]
========================  ==================================================  ===========

Reference solutions live in :mod:`gemini_np.exercises.solutions`; a teacher may
delete that file: nothing in the package imports it, and the checkers compute
the right answers from gemini_np's own ops.
"""
from .checkers import (
    EXERCISES,
    check,
    check_attention_backward,
    check_bce_backward,
    check_fusion_backward,
    check_fusion_logits,
    check_masked_mean_backward,
    check_patch_attention,
    check_patchify,
    check_sinusoidal_positions,
    check_softmax,
    check_softmax_backward,
    check_split_heads,
    check_worked_example,
)
from .result import Result

__all__ = [
    "EXERCISES",
    "Result",
    "check",
    "check_attention_backward",
    "check_bce_backward",
    "check_fusion_backward",
    "check_fusion_logits",
    "check_masked_mean_backward",
    "check_patch_attention",
    "check_patchify",
    "check_sinusoidal_positions",
    "check_softmax",
    "check_softmax_backward",
    "check_split_heads",
    "check_worked_example",
]
