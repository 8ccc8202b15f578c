"""Exercises of notebook 06 (training): bce_backward, masked_mean_backward."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .harness import Case, Exercise, Mistake

# ----------------------------------------------------------------------------- bce_backward


def _bce_case(about, logits, labels):
    _, cache = F.bce_with_logits_forward(logits, labels)
    want = F.bce_with_logits_backward(1.0, cache)
    n = logits.size
    p = F.sigmoid(logits)
    no_mean = f"the 1/N is missing: the loss is the mean over the N = {n} logits, so each gradient is divided by N"
    sign = "the sign is flipped: dL/dz = (σ(z) − y) / N; yours is (y − σ(z)) / N"
    both = f"the sign is flipped and the 1/N is missing: dL/dz = (σ(z) − y) / N, with N = {n}"
    mistakes = [
        Mistake("no-mean", no_mean, p - labels),
        Mistake("sign", sign, (labels - p) / n),
        Mistake("sign-and-no-mean", both, labels - p),
        Mistake("times-sigmoid-derivative", "you multiplied by σ'(z) = σ(z)(1 − σ(z)): with the loss written on "
                                            "logits it cancels, dL/dz = (σ(z) − y) / N (which is why the loss "
                                            "takes logits)", (p - labels) * p * (1 - p) / n),
        Mistake("no-sigmoid", "apply σ to the logits: dL/dz = (σ(z) − y) / N, not (z − y) / N", (logits - labels) / n),
        Mistake("gradient-wrt-probability", "that is dL/dp, the gradient with respect to the probability p = σ(z); "
                                            "the exercise asks for dL/dz = dL/dp · σ'(z) = (σ(z) − y) / N",
                (p - labels) / (p * (1 - p)) / n),
    ]
    if logits.ndim > 1:
        mistakes.append(Mistake("batch-size-not-n", f"you divided by logits.shape[0] = {logits.shape[0]}; the mean "
                                                    f"runs over every logit, N = logits.size = {n}",
                                (p - labels) / logits.shape[0]))
    factors = ((float(n), no_mean), (-1.0, sign), (-float(n), both))
    return Case(about, (logits, labels), want, mistakes, factors=factors, shapes={"logits and labels": logits.shape})


def _bce_cases():
    rng = np.random.default_rng(60)
    z1 = 2.0 * rng.standard_normal(8)
    z1[0], z1[1] = 30.0, -30.0  # confident logits: σ is 1 − 1e-13 and 1e-13 there
    y1 = (rng.random(8) < 0.5).astype(np.float64)
    z2 = 2.0 * rng.standard_normal((2, 3))
    y2 = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    return [_bce_case("8 logits", z1, y1), _bce_case("logits (2, 3)", z2, y2)]


BCE_BACKWARD = Exercise(
    name="bce_backward",
    params=("logits", "labels"),
    outputs=("dlogits",),
    cases=_bce_cases,
    allowed=frozenset({"sigmoid"}),
    passed="dL/dz = (σ(z) − y) / N, for 1-D and 2-D logits",
    explanation="ℓ(z) = −y log σ(z) − (1 − y) log(1 − σ(z)) and σ'(z) = σ(z)(1 − σ(z)) give\n"
                "dℓ/dz = −y(1 − σ) + (1 − y)σ = σ(z) − y: the σ' cancels. The mean over N logits divides by N.",
)

# ----------------------------------------------------------------------------- masked_mean_backward


def _masked_mean_case(about, dout, mask):
    b, n = mask.shape
    x = np.zeros((b, n, dout.shape[-1]))  # the backward does not depend on x
    _, cache = F.masked_mean_forward(x, mask)
    want = F.masked_mean_backward(dout, cache)
    m = mask[:, :, None].astype(np.float64)
    count = mask.sum(axis=-1)[:, None, None].astype(np.float64)
    spread = np.broadcast_to(dout[:, None, :], want.shape)  # dout copied to every position
    safe = np.maximum(count, 1.0)
    mistakes = [
        Mistake("divide-by-n", f"you divided by n = {n}, all positions; the mean runs over the real tokens only, "
                               f"so divide by their number Σ mask (per sequence)", spread / n * m),
        Mistake("padding-not-zeroed", "the padding positions get gradient, but they were left out of the mean: "
                                      "their dx is 0 (multiply by the mask)", spread / safe),
        Mistake("plain-mean", "that is the backward of the plain mean: divide by the number of real tokens (not n) "
                              "and give the padding positions 0", spread / n),
        Mistake("no-division", "you forgot to divide by the number of real tokens Σ mask", spread * m),
    ]
    if np.any(mask.sum(axis=-1) == 0):
        with np.errstate(all="ignore"):
            nan_rows = spread / count * m
        mistakes.append(Mistake("empty-sequence-nan", "an empty sequence (no real token) has count 0, and dividing "
                                                      "by 0 gives inf, then NaN: divide by max(1, count), so that "
                                                      "its dx is 0", nan_rows))
    shapes = {"dout": dout.shape, "mask": mask.shape, "dx": want.shape}
    known = {(mask.shape, dout.shape): "mask (B, n) and dout (B, d) do not line up: give both the axes of dx "
                                       "(B, n, d), mask[:, :, None] and dout[:, None, :]",
             ((b, n, 1), dout.shape): "dout needs a token axis to spread over the positions: dout[:, None, :] "
                                      "is (B, 1, d)"}
    return Case(about, (dout, mask), want, mistakes, shapes=shapes, known_errors=known)


def _masked_mean_cases():
    rng = np.random.default_rng(61)
    mask1 = np.array([[1, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 0, 1, 0, 0]], dtype=bool)
    mask2 = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=bool)
    return [_masked_mean_case("dout (3, 2), mask (3, 5)", rng.standard_normal((3, 2)), mask1),
            _masked_mean_case("a sequence with no real token", rng.standard_normal((2, 3)), mask2)]


MASKED_MEAN_BACKWARD = Exercise(
    name="masked_mean_backward",
    params=("dout", "mask"),
    outputs=("dx",),
    cases=_masked_mean_cases,
    passed="dout / count at the real tokens, 0 at the padding, and 0 (not NaN) for an empty sequence",
    explanation="out = Σ_i m_i x_i / max(1, Σ_i m_i) is linear in x: each real position receives\n"
                "dout / count, each padded one 0 (it never entered the sum). An empty sequence pools to 0\n"
                "and passes 0 back.",
)
