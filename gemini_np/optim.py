"""Optimizers over ``params`` / ``grads`` dicts: SGD with momentum, and Adam.

Both update the parameter arrays **in place** (``p -= ...``), so a model whose
``params`` property returns its own arrays is updated without any copying.
Hyper-parameters are Python floats, so float32 parameters stay float32.

    opt = Adam(lr=3e-3)
    loss = ...; model.backward(dlogits)
    opt.step(model.params, model.grads)
"""
from __future__ import annotations

import math

from .backend import array_namespace


def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """Scale all gradients by one factor so their joint L2 norm is at most ``max_norm``.

    Returns the norm before clipping (a Python float; one host sync). The
    gradients are replaced in the dict, never modified in place (a module may
    still hold them).
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    total = 0.0
    for g in grads.values():
        xp = array_namespace(g)
        total = total + xp.sum(g * g)  # stays on the device until the float() below
    norm = math.sqrt(float(total))
    if norm > max_norm:
        factor = max_norm / (norm + 1e-12)
        for name in grads:
            grads[name] = grads[name] * factor
    return norm


class Optimizer:
    """Base: checks that params and grads match; ``step`` updates params in place."""

    def __init__(self, lr: float, clip_norm: float | None = None):
        if not lr > 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.lr = float(lr)
        self.clip_norm = clip_norm
        self.t = 0  # number of steps taken
        self.last_grad_norm = None

    def step(self, params: dict, grads: dict) -> None:
        if set(params) != set(grads):
            missing = sorted(set(params) ^ set(grads))
            raise ValueError(f"params and grads must have the same keys; these are in only one: {missing[:5]}")
        grads = dict(grads)
        if self.clip_norm is not None:
            self.last_grad_norm = clip_grad_norm(grads, self.clip_norm)
        self.t += 1
        for name in sorted(params):
            p, g = params[name], grads[name]
            if tuple(p.shape) != tuple(g.shape):
                raise ValueError(f"{name}: parameter {tuple(p.shape)} and gradient {tuple(g.shape)} differ in shape")
            self._update(name, p, g)

    def _update(self, name, p, g):  # pragma: no cover - subclasses implement
        raise NotImplementedError


class SGD(Optimizer):
    """SGD with (heavy-ball) momentum:

        v ← μ v + g
        p ← p − lr · v
    """

    def __init__(self, lr: float = 0.05, momentum: float = 0.9, clip_norm: float | None = None):
        super().__init__(lr, clip_norm)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.velocity: dict = {}

    def _update(self, name, p, g):
        if name not in self.velocity:
            self.velocity[name] = array_namespace(g).zeros_like(g)
        v = self.velocity[name] * self.momentum + g  # v ← μ v + g
        self.velocity[name] = v
        p -= self.lr * v  # p ← p − lr v  (in place)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), bias-corrected:

        m ← β₁ m + (1 − β₁) g            first moment (mean of g)
        v ← β₂ v + (1 − β₂) g²           second moment
        m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)   undo the bias toward 0 of the first steps
        p ← p − lr · m̂ / (√v̂ + ε)
    """

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, clip_norm: float | None = None):
        super().__init__(lr, clip_norm)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        self.beta1, self.beta2, self.eps = float(b1), float(b2), float(eps)
        self.m: dict = {}
        self.v: dict = {}

    def _update(self, name, p, g):
        xp = array_namespace(g)
        if name not in self.m:
            self.m[name], self.v[name] = xp.zeros_like(g), xp.zeros_like(g)
        m, v = self.m[name], self.v[name]  # updated in place: only this optimizer holds them
        m *= self.beta1
        m += (1.0 - self.beta1) * g  # m ← β₁ m + (1 − β₁) g
        v *= self.beta2
        v += (1.0 - self.beta2) * (g * g)  # v ← β₂ v + (1 − β₂) g²
        m_hat = m / (1.0 - self.beta1**self.t)  # bias corrections (Python floats: dtype kept)
        v_hat = v / (1.0 - self.beta2**self.t)
        p -= self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)  # in place
