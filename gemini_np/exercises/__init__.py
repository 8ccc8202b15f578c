""""Your turn" exercises: checkers for the functions students write in the tutorials.

Each checker takes the student's function and returns a :class:`Result` whose
status is ``"pass"``, ``"fail"`` (with a hint that names the likely mistake) or
``"not attempted"`` (the placeholder still raises NotImplementedError, or
returns None). A checker never raises, whatever the function does, so a
notebook always runs top to bottom.

    from gemini_np.exercises import check
    check(my_softmax_backward, "softmax_backward")   # or check_softmax_backward(fn)

=====================  ==========================================  =========
exercise               the student writes                          notebook
=====================  ==========================================  =========
``softmax``            ``softmax(x)`` along the last axis           02
``softmax_backward``   ``softmax_backward(dy, y) -> dx``            02
``attention_backward`` ``attention_backward(dout, q, k, v)``        02
                       ``-> (dq, dk, dv)``, scale 1/√d_k
``patchify``           ``patchify(x, p)``: (..., H, W, C) ->        03
                       (..., H/p, W/p, p·p, C)
``fusion_backward``    ``fusion_backward(dout, q_t, k_t, q_i,``     04
                       ``k_i, v) -> (dq_t, dk_t, dq_i, dk_i, dv)``
=====================  ==========================================  =========

Reference solutions live in :mod:`gemini_np.exercises.solutions`; a teacher
may delete that file, nothing else imports it.
"""
from .checkers import (
    EXERCISES,
    Result,
    check,
    check_attention_backward,
    check_fusion_backward,
    check_patchify,
    check_softmax,
    check_softmax_backward,
)

__all__ = [
    "EXERCISES",
    "Result",
    "check",
    "check_attention_backward",
    "check_fusion_backward",
    "check_patchify",
    "check_softmax",
    "check_softmax_backward",
]
