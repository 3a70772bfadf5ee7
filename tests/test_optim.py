"""Optimisers and learning-rate schedules against torch.optim, step for step and epoch for epoch."""

import math

import numpy as np
import pytest

from cnncalc.engine import optim

SHAPES = {"conv1.weight": (4, 3, 3, 3), "conv1.bias": (4,), "fc.weight": (5, 36), "bn.weight": (4,)}


def trajectory(make_ours, make_theirs, steps=50, lr_at=None):
    """Runs both optimisers over the same parameters and the same random gradients; returns
    (ours, theirs) after every step, as {name: array}."""
    torch = pytest.importorskip("torch")
    data = np.random.default_rng(1)
    params = {k: data.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
    tensors = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    ours, theirs = make_ours(params), make_theirs(list(tensors.values()))
    history = []
    for step in range(steps):
        if lr_at is not None:
            ours.lr = lr_at(step)
            for group in theirs.param_groups:
                group["lr"] = lr_at(step)
        grads = {k: (data.standard_normal(s) * 0.5).astype(np.float32) for k, s in SHAPES.items()}
        ours.step(grads)
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        theirs.step()
        history.append(({k: v.copy() for k, v in params.items()},
                        {k: t.detach().numpy().copy() for k, t in tensors.items()}))
    return history


def assert_close(history, rtol=1e-6):
    """Every parameter within rtol of torch's, relative to its magnitude (at least 1e-2, so a
    parameter passing through zero is not judged by a vanishing denominator). SGD agrees bit for
    bit where torch uses fused multiply-adds (AVX2); Adam to about 3e-7, torch's sqrt (MKL's)
    not being correctly rounded."""
    for step, (ours, theirs) in enumerate(history):
        for k in ours:
            err = np.abs(ours[k] - theirs[k]) / np.maximum(np.abs(theirs[k]), 1e-2)
            assert err.max() <= rtol, f"step {step + 1}, {k}: relative error {err.max():.2e}"


@pytest.mark.torch
@pytest.mark.parametrize("momentum, weight_decay", [(0.9, 1e-2), (0.0, 0.0), (0.5, 0.0)])
def test_sgd_matches_torch_for_fifty_steps(momentum, weight_decay):
    torch = pytest.importorskip("torch")
    history = trajectory(lambda p: optim.SGD(p, 0.05, momentum, weight_decay),
                         lambda p: torch.optim.SGD(p, lr=0.05, momentum=momentum, weight_decay=weight_decay))
    assert_close(history)
    assert not np.array_equal(history[0][0]["fc.weight"], history[-1][0]["fc.weight"])


@pytest.mark.torch
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_adam_matches_torch_for_fifty_steps(weight_decay):
    torch = pytest.importorskip("torch")
    history = trajectory(lambda p: optim.Adam(p, 2e-3, weight_decay=weight_decay),
                         lambda p: torch.optim.Adam(p, lr=2e-3, weight_decay=weight_decay))
    assert_close(history)


@pytest.mark.torch
def test_a_changing_learning_rate_matches_torch():
    """The trainer sets opt.lr every epoch; torch's schedulers set param_groups' lr the same way."""
    torch = pytest.importorskip("torch")
    schedule = optim.cosine_lr(2e-3, 20, 1e-5)
    history = trajectory(lambda p: optim.Adam(p, 2e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-3),
                         lambda p: torch.optim.Adam(p, lr=2e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-3),
                         steps=25, lr_at=schedule)
    assert_close(history)


def test_state_round_trip_resumes_exactly():
    """Ten steps, or five, a checkpoint of parameters and state, and five more from a fresh optimiser."""
    data = np.random.default_rng(3)
    start = {k: data.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
    grads = [{k: data.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()} for _ in range(10)]
    for make in (lambda p: optim.SGD(p, 0.1, 0.9, 1e-3), lambda p: optim.Adam(p, 1e-2, weight_decay=1e-3)):
        full = {k: v.copy() for k, v in start.items()}
        opt = make(full)
        for g in grads:
            opt.step(g)
        part = {k: v.copy() for k, v in start.items()}
        opt = make(part)
        for g in grads[:5]:
            opt.step(g)
        saved = {k: v.copy() for k, v in opt.state().items()}
        resumed = {k: v.copy() for k, v in part.items()}
        opt = make(resumed)
        opt.load_state(saved)
        for g in grads[5:]:
            opt.step(g)
        for k in full:
            assert np.array_equal(full[k], resumed[k]), k


def test_optimiser_kernels_match_their_py_func():
    """The compiled float32 update against the same source run by Python on float32 scalars."""
    data = np.random.default_rng(4)
    w, g, a, b = (data.standard_normal(50).astype(np.float32) for _ in range(4))
    b = np.abs(b)
    f = np.float32
    for kernel, args in ((optim.sgd_kernel, (f(0.1), f(0.9), f(1e-2), False)),
                         (optim.adam_kernel, (f(0.1), f(0.999), f(1e-3), f(0.01), f(0.3), f(1e-8), f(1e-2)))):
        state = (a,) if kernel is optim.sgd_kernel else (a, b)
        jit = [w.copy(), g, *(s.copy() for s in state)]
        py = [w.copy(), g, *(s.copy() for s in state)]
        kernel(*jit, *args)
        kernel.py_func(*py, *args)
        for x, y in zip(jit, py):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-8)


def test_a_missing_or_misshapen_gradient_is_refused():
    params = {"w": np.zeros((2, 3), np.float32)}
    with pytest.raises(ValueError, match=r"gradient of w must have the parameter's shape \(2, 3\); received \(3, 2\)"):
        optim.SGD(params, 0.1).step({"w": np.zeros((3, 2), np.float32)})
    with pytest.raises(ValueError, match="received none"):
        optim.Adam(params, 0.1).step({})


# ------------------------------------------------------------------ schedules

@pytest.mark.torch
@pytest.mark.parametrize("step_size, gamma", [(3, 0.1), (1, 0.5), (4, 0.9)])
def test_step_schedule_matches_torch_steplr(step_size, gamma):
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
    lr_at = optim.step_lr(0.2, step_size, gamma)
    for epoch in range(15):
        assert lr_at(epoch) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12), epoch
        opt.step()
        sched.step()


@pytest.mark.torch
@pytest.mark.parametrize("T_max, eta_min", [(10, 0.0), (7, 1e-3), (1, 0.0)])
def test_cosine_schedule_matches_torch_cosineannealinglr(T_max, eta_min):
    """Over two periods: torch's recursive form and the closed form agree, falling to eta_min at
    T_max and rising again after."""
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T_max, eta_min=eta_min)
    lr_at = optim.cosine_lr(0.1, T_max, eta_min)
    for epoch in range(2 * T_max + 1):
        assert lr_at(epoch) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9, abs=1e-14), epoch
        opt.step()
        sched.step()
    assert lr_at(T_max) == pytest.approx(eta_min, abs=1e-15)


def test_schedules_by_hand():
    assert [optim.constant_lr(0.3)(e) for e in (0, 5, 99)] == [0.3, 0.3, 0.3]
    assert [optim.step_lr(1.0, 2, 0.5)(e) for e in range(6)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    cosine = optim.cosine_lr(1.0, 4)
    assert [round(cosine(e), 12) for e in range(5)] == [1.0, round((1 + math.sqrt(0.5)) / 2, 12), 0.5,
                                                        round((1 - math.sqrt(0.5)) / 2, 12), 0.0]
    # the trainer's form: a run of 9 epochs steps every 3 by default, cosine over the run
    assert optim.lr_at("step", 1.0, 3, 9) == pytest.approx(0.1)
    assert optim.lr_at("cosine", 1.0, 9, 9) == pytest.approx(0.0, abs=1e-15)
    assert optim.lr_at("constant", 0.5, 7, 9) == 0.5
    with pytest.raises(ValueError, match="'linear'; allowed: constant, step, cosine"):
        optim.make_schedule("linear", 1.0, 9)
    with pytest.raises(ValueError, match="received 0"):
        optim.step_lr(1.0, 0)
