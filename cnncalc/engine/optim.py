"""Optimisers with torch.optim's exact update rules, and learning-rate schedules.

SGD:  g ← g + λ·w;  v ← μ·v + g (v = g at the first step);  w ← w − lr·v
Adam: g ← g + λ·w;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
      w ← w − lr·(m/(1−β1^t)) / (√(v/(1−β2^t)) + ε)
"""

from __future__ import annotations

import math

import numpy as np


class SGD:
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        self.params, self.lr, self.momentum, self.weight_decay = params, lr, momentum, weight_decay
        self.velocity = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads):
        self.t += 1
        for k, w in self.params.items():
            g = grads[k] + np.float32(self.weight_decay) * w if self.weight_decay else grads[k]
            if self.momentum:
                v = self.velocity[k]
                if self.t == 1:
                    v[...] = g
                else:
                    v *= np.float32(self.momentum)
                    v += g
                g = v
            w -= np.float32(self.lr) * g

    def state(self):
        return {f"velocity.{k}": v for k, v in self.velocity.items()} | {"t": np.array(self.t)}

    def load_state(self, state):
        for k, v in self.velocity.items():
            v[...] = state[f"velocity.{k}"]
        self.t = int(state["t"])


class Adam:
    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params, self.lr, self.betas, self.eps, self.weight_decay = params, lr, betas, eps, weight_decay
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads):
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for k, w in self.params.items():
            g = grads[k] + np.float32(self.weight_decay) * w if self.weight_decay else grads[k]
            m, v = self.m[k], self.v[k]
            m *= np.float32(b1)
            m += np.float32(1 - b1) * g
            v *= np.float32(b2)
            v += np.float32(1 - b2) * g * g
            denom = np.sqrt(v) / np.float32(math.sqrt(c2)) + np.float32(self.eps)
            w -= np.float32(self.lr / c1) * m / denom

    def state(self):
        return ({f"m.{k}": v for k, v in self.m.items()} | {f"v.{k}": v for k, v in self.v.items()}
                | {"t": np.array(self.t)})

    def load_state(self, state):
        for k in self.m:
            self.m[k][...] = state[f"m.{k}"]
            self.v[k][...] = state[f"v.{k}"]
        self.t = int(state["t"])


def lr_at(schedule: str, base: float, epoch: int, epochs: int, step_size: int = 0, gamma: float = 0.1,
          eta_min: float = 0.0) -> float:
    """Learning rate for epoch (0-based): constant; step (×gamma every step_size epochs, default
    a third of the run); cosine (torch's CosineAnnealingLR closed form over the run)."""
    if schedule == "step":
        size = step_size or max(epochs // 3, 1)
        return base * gamma ** (epoch // size)
    if schedule == "cosine":
        return eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / max(epochs, 1))) / 2
    return base
