"""The network's workspace arena (cnncalc/layers/workspace.py): the conv layers' scratch arrays are one
block, and training with it is bit for bit training without it."""

from __future__ import annotations

import numpy as np
import pytest

from cnncalc.engine import train as tr
from cnncalc.engine.init import initialise
from cnncalc.layers import workspace
from cnncalc.layers.conv import kernels as conv_k
from helpers import spec

# every conv kernel family, at maps of different sizes so that one layer's interior is another's
# padding border in the shared block: a 3×3 padded conv at 20×20 (direct), a depthwise at 20 columns
# (along the rows) and at 10 (batched), a residual block with a stride-2 3×3 (im2col) and a 1×1
# stride-2 shortcut, a 1×1 (pointwise), a 5×5 padded conv at 10×10; batchnorm, dropout, add.
MIXED = """
- conv: {filters: 8, kernel: 3, padding: 1}
- conv: {filters: 8, kernel: 3, padding: 1, groups: depthwise}
- batchnorm
- relu
- parallel:
    - - conv: {filters: 16, kernel: 3, stride: 2, padding: 1}
      - batchnorm
      - relu
      - conv: {filters: 16, kernel: 3, padding: 1}
    - - conv: {filters: 16, kernel: 1, stride: 2}
  merge: add
- relu
- conv: {filters: 24, kernel: 1}
- relu6
- conv: {filters: 24, kernel: 3, padding: 1, groups: depthwise}
- dropout: 0.2
- conv: {filters: 12, kernel: 5, padding: 2}
- global_avgpool
- dense: 4
"""


def _poison_dead_gradients(net):
    """Fills with NaN each shared gradient buffer once its planned life (Network.gradient_lives) is over, at the
    first layer's backward after it: a buffer read after the plan let another take its bytes then turns the
    losses NaN, whether or not the placement happened to put another buffer there. Once only, before any
    later buffer is born (a later one may take the same bytes, and is written before it is read)."""
    views, lives = net.gradient_views, net.gradient_lives
    state = {"step": 0, "done": set()}
    for step, layer in enumerate(reversed(net.layers), start=1):
        def backward(dout, step=step, original=layer.backward):
            if step < state["step"]:  # a new backward pass
                state["done"] = set()
            state["step"] = step
            for k, (view, (_, last)) in enumerate(zip(views, lives)):
                if last < step and k not in state["done"]:
                    view.fill(np.nan)
                    state["done"].add(k)
            return original(dout)

        layer.backward = backward


def _train(text, arena, monkeypatch, steps=3, batch=6, poison=False):
    """(losses, {name: weights}, network) after `steps` SGD steps with momentum, arena on or off; poison: the
    shared gradient buffers are NaN once their planned lives are over (_poison_dead_gradients)."""
    monkeypatch.setattr(workspace, "ENABLED", arena)
    report, net = tr.build(text, "t.yaml", batch)
    if poison:
        _poison_dead_gradients(net)
    initialise(net, 0)
    loop = tr.Loop(net, tr.make_optimizer(net, "sgd", 0.05, 0.9, 0.0), batch)
    data = np.random.default_rng(1)
    x = data.standard_normal((batch,) + net.input_shape).astype(np.float32)
    y = data.integers(0, net.n_classes, batch)
    rng = np.random.default_rng(2)
    losses = []
    for step in range(steps):
        b = batch if step < steps - 1 else batch - 1  # a smaller last batch: the leading rows
        losses.append(loop.step(x[:b], y[:b], rng)[0])
    return losses, {k: v.copy() for k, v in net.params.items()}, net


def _poisoned_claim(monkeypatch):
    """Arena.claim that first fills the whole block with NaN whenever the owner changes: the worst another layer
    can leave behind. An array wrongly declared `rewritten` (read before written) then turns the losses NaN."""
    claim = workspace.Arena.claim

    def poisoned(self, owner):
        if self.owner is not owner:
            self.block.view(np.float32)[...] = np.nan
        claim(self, owner)

    monkeypatch.setattr(workspace.Arena, "claim", poisoned)


@pytest.mark.parametrize("poison", [False, True], ids=["plain", "poisoned"])
@pytest.mark.parametrize("path", ["direct", "gemm", "winograd"])
def test_training_with_the_arena_is_bit_for_bit_training_without(path, poison, monkeypatch):
    monkeypatch.setenv("CNNCALC_CONV_PATH", path)
    text = spec(MIXED, (20, 20, 3))
    losses_own, weights_own, net_own = _train(text, False, monkeypatch)
    if poison:
        _poisoned_claim(monkeypatch)
    losses_arena, weights_arena, net = _train(text, True, monkeypatch, poison=poison)
    assert net_own.arena is None and net.arena is not None
    kernels = {layer.conv.plan.kernel for layer in net.layers if hasattr(layer, "conv")}
    paths = {"direct": {"conv2d"}, "gemm": {"gemm"}, "winograd": {"winograd", "conv2d"}}[path]  # Winograd: 3×3 s1 only
    assert kernels == paths | {"depthwise", "depthwise_batched", "pointwise"}
    assert losses_arena == losses_own
    assert all(np.isfinite(losses_own))
    for name, w in weights_own.items():
        assert np.array_equal(weights_arena[name], w), name
    # the arena is one block of the largest lease: less than the sum the layers held of their own
    leased = [lease.nbytes for lease in net.arena.leases.values()]
    lessees = [layer for layer in net.layers if hasattr(layer, "conv") or layer.node.kind == "batchnorm"]
    assert len(leased) == len(lessees) == 10 and net.arena.nbytes == max(leased) < sum(leased)
    # the dx buffers: one block, smaller than the buffers it holds
    assert net.gradients.nbytes < net._gradient_bytes
    assert net.nbytes() < net_own.nbytes()


def test_a_residual_spec_trains_bit_for_bit_with_the_arena(monkeypatch):
    """The shipped ResNet-18's first stage at a small input, the direct path as tuning would pick for it."""
    monkeypatch.setenv("CNNCALC_CONV_PATH", "direct")
    blocks = """blocks:
  basic:
    args: {filters: null, stride: 1, shortcut: []}
    layers:
      - parallel:
          - - conv: {filters: $filters, kernel: 3, stride: $stride, padding: 1, bias: false}
            - batchnorm
            - relu
            - conv: {filters: $filters, kernel: 3, padding: 1, bias: false}
            - batchnorm
          - $shortcut
        merge: add
      - relu
"""
    layers = """
- conv: {filters: 8, kernel: 3, padding: 1, bias: false}
- batchnorm
- relu
- basic: {filters: 8}
- basic: {filters: 16, stride: 2, shortcut: [{conv: {filters: 16, kernel: 1, stride: 2, bias: false}}, batchnorm]}
- basic: {filters: 16}
- global_avgpool
- dense: 5
"""
    text = spec(layers, (12, 12, 3), blocks)
    own = _train(text, False, monkeypatch)
    assert _train(text, True, monkeypatch, poison=True)[0] == own[0]
    shared = _train(text, True, monkeypatch)
    assert shared[0] == own[0]
    assert all(np.array_equal(shared[1][k], w) for k, w in own[1].items())
    net = shared[2]
    # every dx buffer was seen written by the walk of backward (none left alone, alive throughout), and
    # few are alive at once: a buffer lives from its layer's backward to its producer's, at most across
    # a residual branch (5 layers: relu, bn2, conv2, bn1, relu … conv1) plus the step that reads it
    throughout = (0, len(net.layers) + 1)
    assert throughout not in net.gradient_lives
    assert max(last - first for first, last in net.gradient_lives) <= 6
    assert net.gradients.nbytes < net._gradient_bytes / 3


def test_claim_zeroes_what_a_kernel_reads_as_zeros_and_only_on_a_change_of_owner():
    arena = workspace.Arena()
    first, second = {}, {}
    f32 = np.float32
    arena.lease("first", {"border": ((2, 3), f32), "panel": ((5,), f32)}, first, rewritten=("panel",))
    arena.lease("second", {"big": ((4, 4), f32)}, second)
    arena.allocate()
    # one block of the larger lease: the first's 6 and 5 floats (24 and 20 bytes) each rounded up to 64
    # bytes = 128, against the second's 16 floats = 64 bytes
    assert arena.nbytes == 128
    assert np.shares_memory(first["border"], second["big"])
    assert not np.shares_memory(first["border"], first["panel"])
    assert all(a.flags.c_contiguous and a.ctypes.data % workspace.ALIGN == 0 for a in (*first.values(), *second.values()))
    arena.claim("second")
    arena.block.view(np.float32)[...] = np.nan  # what another layer may leave anywhere in the block
    arena.claim("first")  # another owner: its border reads zeros again; the panel it rewrites is left
    assert not first["border"].any() and np.isnan(first["panel"]).all()
    first["border"][...] = 7.0
    arena.claim("first")  # the same owner: untouched, as a private workspace would be
    assert (first["border"] == 7.0).all()


def test_what_a_plan_writes_at_build_is_kept_by_the_layer():
    """ConvPlan.workspace() fills offsets at build; a kernel whose arrays hold such constants must keep them
    (ConvPlan.KEEP), as claim() only restores zeros."""
    plans = [conv_k.ConvPlan(6, 8, 10, 10, 16, 3, 3, 1, 1, (1, 1, 1, 1), 1, 1, 1, 10, 10, 2),
             conv_k.ConvPlan(6, 8, 10, 10, 16, 3, 3, 2, 2, (1, 1, 1, 1), 1, 1, 1, 5, 5, 2),
             conv_k.ConvPlan(6, 8, 10, 10, 16, 1, 1, 1, 1, (0, 0, 0, 0), 1, 1, 1, 10, 10, 2),
             conv_k.ConvPlan(6, 8, 20, 20, 8, 3, 3, 1, 1, (1, 1, 1, 1), 1, 1, 8, 20, 20, 2),
             conv_k.ConvPlan(6, 8, 10, 10, 8, 3, 3, 1, 1, (1, 1, 1, 1), 1, 1, 8, 10, 10, 2),
             conv_k.ConvPlan(6, 8, 10, 10, 16, 3, 3, 1, 1, (1, 1, 1, 1), 1, 1, 1, 10, 10, 2, gemm_chunk=2)]
    assert [p.kernel for p in plans] == ["conv2d", "conv2d", "pointwise", "depthwise", "depthwise_batched", "gemm"]
    for plan in plans:
        filled = {name for name, a in plan.workspace(True, plan.kernel).items() if a.any()}
        assert filled <= set(conv_k.ConvPlan.KEEP.get(plan.kernel, ())), (plan.kernel, filled)
        names = set(plan.workspace_shapes(True, plan.kernel))
        assert set(conv_k.ConvPlan.REWRITTEN.get(plan.kernel, ())) <= names


def test_a_chain_with_pooling_concat_flatten_and_dropout_trains_bit_for_bit(monkeypatch):
    """The kinds that hand dout on (flatten, dropout, identity) and the ones with a buffer per input (concat)."""
    layers = """
- conv: {filters: 6, kernel: 3, padding: 1}
- relu
- maxpool: 2
- parallel:
    - - conv: {filters: 4, kernel: 3, padding: 1}
    - - conv: {filters: 5, kernel: 1}
      - identity
  merge: concat
- avgpool: 2
- flatten
- dropout: 0.3
- dense: 12
- relu
- dense: 3
"""
    text = spec(layers, (8, 8, 3))
    own = _train(text, False, monkeypatch)
    shared = _train(text, True, monkeypatch, poison=True)
    assert shared[0] == own[0]
    assert all(np.array_equal(shared[1][k], w) for k, w in own[1].items())


def test_a_layer_handing_on_dout_undeclared_is_an_error_not_a_wrong_gradient(monkeypatch):
    """backward() checks that what a layer sends is its own buffer, or dout for a kind that says it passes it on."""
    from cnncalc.errors import EngineError
    from cnncalc.layers.merge.train import AddLayer

    monkeypatch.setattr(AddLayer, "passes_gradient", False)
    text = spec("""
- conv: {filters: 4, kernel: 3, padding: 1}
- parallel:
    - - conv: {filters: 4, kernel: 3, padding: 1}
      - relu
    - - relu
  merge: add
- relu
- global_avgpool
- dense: 3
""", (6, 6, 2))
    with pytest.raises(EngineError, match="passes_gradient"):
        _train(text, True, monkeypatch, steps=1)


def test_place_keeps_buffers_alive_at_the_same_step_apart():
    # sizes in bytes (each rounded up to 64 when placed), lives (first, last) inclusive:
    # a 128 over 1–2, b 64 over 2–3, c 64 over 3–4, d 192 over 5–5.
    # Largest first: d at 0 (alone at step 5); a at 0 (d's step 5 is not a's); b shares step 2 with a: 128;
    # c shares step 3 with b (128–192), not a step with a or d: 0. Block: max end = 192.
    offsets, size = workspace.place([128, 64, 64, 192], [(1, 2), (2, 3), (3, 4), (5, 5)])
    assert offsets == [0, 128, 0, 0] and size == 192
    # every pair alive at a common step is apart (brute force over random cases)
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 9))
        sizes = [int(v) for v in rng.integers(1, 300, n)]
        lives = [tuple(sorted(int(v) for v in rng.integers(0, 6, 2))) for _ in range(n)]
        offsets, size = workspace.place(sizes, lives)
        for i in range(n):
            assert offsets[i] % workspace.ALIGN == 0 and offsets[i] + sizes[i] <= size
            for j in range(i):
                if lives[i][0] <= lives[j][1] and lives[j][0] <= lives[i][1]:
                    assert offsets[i] + sizes[i] <= offsets[j] or offsets[j] + sizes[j] <= offsets[i]


def test_the_estimate_counts_the_arena_once(monkeypatch):
    """engine.train.estimate: the kept workspaces summed, the scratch the largest layer's (the arena), and it
    still covers what the network allocates."""
    import numba

    from cnncalc import layers

    monkeypatch.setenv("CNNCALC_CONV_PATH", "direct")
    threads = numba.config.NUMBA_NUM_THREADS
    report, net = tr.build(spec(MIXED, (20, 20, 3)), "t.yaml", 6)
    est = tr.estimate(report, 6, 100, "sgd", threads=threads)
    memories = [layers.trainer(r.kind).memory(r, threads) for r in report.rows[1:] if r.kind == "conv"]
    kept, scratch = sum(m.workspace for m in memories), [m.scratch for m in memories]
    assert est["workspace"] == kept + max(scratch) < kept + sum(scratch)
    assert max(scratch) >= net.arena.nbytes
    assert est["activations"] + est["workspace"] >= net.nbytes()
