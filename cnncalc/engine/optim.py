"""Optimisers with torch.optim's update rules, and learning-rate schedules.

Parameters and gradients are float32 arrays of any shape, named in dicts (`conv1.weight` …);
step() updates the parameters in place, element by element in one Numba pass, in float32,
rounding where torch's single-tensor CPU code rounds, fused multiply-adds included (torch's own
sqrt is not correctly rounded, so Adam agrees to an ulp, not bit for bit).
t counts steps from 1, g is the gradient, w the parameter:

SGD (dampening 0, no Nesterov), torch.optim.SGD:
    g ← g + λ·w                            (weight decay λ, when λ ≠ 0)
    v ← g at t = 1,  v ← μ·v + g after     (momentum μ, when μ ≠ 0; then g ← v)
    w ← w − lr·g
Adam (no amsgrad), torch.optim.Adam:
    g ← g + λ·w                            (L2 weight decay added to the gradient, when λ ≠ 0)
    m ← m + (1 − β1)·(g − m)               (= β1·m + (1 − β1)·g, as torch's lerp_)
    v ← β2·v + (1 − β2)·g·g
    w ← w − (lr/(1 − β1^t))·m / (√v/√(1 − β2^t) + ε)      (ε added after the bias-corrected root)

Schedules are plain functions of the 0-based epoch, made by constant_lr, step_lr and cosine_lr:
    constant:  lr(e) = base
    step:      lr(e) = base·γ^⌊e/step_size⌋                                    (torch's StepLR)
    cosine:    lr(e) = η_min + (base − η_min)·(1 + cos(π·e/T_max))/2          (CosineAnnealingLR's
               closed form; past T_max it rises again, as torch's does)
The names of the optimisers and schedules are defined here once (the CLI's choices, the option
checks and the trainer import them); this module imports neither numpy nor Numba until an
optimiser is made, so that the CLI can read the names at start-up. The kernels are in
optim_kernels.py (self-contained: Numba's cache does not follow imports).
"""

from __future__ import annotations

import math

OPTIMIZERS = ("sgd", "adam")
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.01}
SCHEDULES = ("constant", "step", "cosine")


def __getattr__(name):
    """The kernels as attributes of this module (optim.sgd_kernel …), imported on first use."""
    if name in ("fma32", "sgd_kernel", "adam_kernel"):
        from cnncalc.engine import optim_kernels

        return getattr(optim_kernels, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _flat(a, name):
    import numpy as np

    if a.dtype != np.float32 or not a.flags.c_contiguous:
        raise ValueError(f"{name} must be a float32 C-contiguous array; received {a.dtype}"
                         f"{'' if a.flags.c_contiguous else ' (not C-contiguous)'}")
    return a.reshape(-1)


def _check_grads(params, grads):
    for k, w in params.items():
        if k not in grads or grads[k].shape != w.shape:
            got = grads[k].shape if k in grads else "none"
            raise ValueError(f"the gradient of {k} must have the parameter's shape {w.shape}; received {got}")


class SGD:
    """torch.optim.SGD(params, lr, momentum, weight_decay) with dampening 0 and nesterov off.

    params: {name: float32 array}, updated in place by step(grads) with grads of the same names
    and shapes; `lr` may be changed between steps (the schedules do)."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        import numpy as np

        self.params, self.lr, self.momentum, self.weight_decay = params, lr, momentum, weight_decay
        # without momentum the kernel never reads v: an empty array, not a copy of the parameters' size
        self.velocity = {k: np.zeros_like(v) if momentum else np.zeros(0, v.dtype) for k, v in params.items()}
        self.t = 0

    def step(self, grads):
        """One update of every parameter from grads: {name: array of the parameter's shape}."""
        import numpy as np

        from cnncalc.engine.optim_kernels import sgd_kernel

        _check_grads(self.params, grads)
        self.t += 1
        lr, mu, wd = np.float32(self.lr), np.float32(self.momentum), np.float32(self.weight_decay)
        for k, w in self.params.items():
            sgd_kernel(_flat(w, k), _flat(grads[k], f"grads[{k!r}]"), self.velocity[k].reshape(-1), lr, mu, wd,
                       self.t == 1)

    def state(self):
        """The arrays a checkpoint keeps: velocity.<name> and the step count t."""
        import numpy as np

        return {f"velocity.{k}": v for k, v in self.velocity.items()} | {"t": np.array(self.t)}

    def load_state(self, state):
        for k, v in self.velocity.items():
            if v.size:  # none kept without momentum (a checkpoint may hold a full one, unused)
                v[...] = state[f"velocity.{k}"]
        self.t = int(state["t"])


class Adam:
    """torch.optim.Adam(params, lr, betas, eps, weight_decay), amsgrad off.

    params: {name: float32 array}, updated in place by step(grads); `lr` may change between steps."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        import numpy as np

        self.params, self.lr, self.betas, self.eps, self.weight_decay = params, lr, betas, eps, weight_decay
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads):
        """One update of every parameter from grads: {name: array of the parameter's shape}."""
        import numpy as np

        from cnncalc.engine.optim_kernels import adam_kernel

        _check_grads(self.params, grads)
        self.t += 1
        beta1, beta2 = self.betas
        # torch computes the corrections in Python floats, then rounds them to float32 in the kernels
        step_size = np.float32(self.lr / (1 - beta1 ** self.t))
        bias_correction2_sqrt = np.float32((1 - beta2 ** self.t) ** 0.5)
        scalars = (np.float32(1 - beta1), np.float32(beta2), np.float32(1 - beta2), step_size,
                   bias_correction2_sqrt, np.float32(self.eps), np.float32(self.weight_decay))
        for k, w in self.params.items():
            adam_kernel(_flat(w, k), _flat(grads[k], f"grads[{k!r}]"), self.m[k].reshape(-1), self.v[k].reshape(-1),
                        *scalars)

    def state(self):
        """The arrays a checkpoint keeps: m.<name>, v.<name> and the step count t."""
        import numpy as np

        return ({f"m.{k}": v for k, v in self.m.items()} | {f"v.{k}": v for k, v in self.v.items()}
                | {"t": np.array(self.t)})

    def load_state(self, state):
        for k in self.m:
            self.m[k][...] = state[f"m.{k}"]
            self.v[k][...] = state[f"v.{k}"]
        self.t = int(state["t"])


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    """The optimiser called name (one of OPTIMIZERS) over params; ValueError for another name."""
    if name == "sgd":
        return SGD(params, lr, momentum, weight_decay)
    if name == "adam":
        return Adam(params, lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimiser {name!r}; allowed: {', '.join(OPTIMIZERS)}")


# ------------------------------------------------------------------ learning-rate schedules

def constant_lr(base: float):
    """lr_at(epoch) = base."""
    def lr_at(epoch: int) -> float:  # noqa: ARG001 — every schedule is called as lr_at(epoch)
        return base
    return lr_at


def step_lr(base: float, step_size: int, gamma: float = 0.1):
    """lr_at(epoch) = base·gamma^⌊epoch/step_size⌋, torch's StepLR (epoch counts from 0)."""
    if step_size < 1:
        raise ValueError(f"step_size must be a whole number of epochs ≥ 1; received {step_size}")

    def lr_at(epoch: int) -> float:
        return base * gamma ** (epoch // step_size)
    return lr_at


def cosine_lr(base: float, T_max: int, eta_min: float = 0.0):
    """lr_at(epoch) = eta_min + (base − eta_min)·(1 + cos(π·epoch/T_max))/2, torch's CosineAnnealingLR."""
    if T_max < 1:
        raise ValueError(f"T_max must be a whole number of epochs ≥ 1; received {T_max}")

    def lr_at(epoch: int) -> float:
        return eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / T_max)) / 2
    return lr_at


def make_schedule(schedule: str, base: float, epochs: int, step_size: int = 0, gamma: float = 0.1,
                  eta_min: float = 0.0):
    """The lr_at(epoch) function for a run of `epochs`: step every step_size epochs (default a third
    of the run), cosine over T_max = epochs."""
    if schedule == "constant":
        return constant_lr(base)
    if schedule == "step":
        return step_lr(base, step_size or max(epochs // 3, 1), gamma)
    if schedule == "cosine":
        return cosine_lr(base, max(epochs, 1), eta_min)
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; allowed: {', '.join(SCHEDULES)}")


def lr_at(schedule: str, base: float, epoch: int, epochs: int, step_size: int = 0, gamma: float = 0.1,
          eta_min: float = 0.0) -> float:
    """Learning rate for the 0-based epoch of a run: make_schedule(...)(epoch)."""
    return make_schedule(schedule, base, epochs, step_size, gamma, eta_min)(epoch)
