"""The batchnorm kernels split the channels among Numba's threads: a channel owns its float64 sums and
its outputs, so 1 and 2 threads must agree bit for bit, and both with the serial Python of the
kernels (py_func) run on the same float32 arrays to float32 rounding."""

import numba
import numpy as np

from cnncalc.layers.norm import kernels as bn


def _run(x, dout, gamma, beta, train):
    n_C = x.shape[1]
    rm, rv = np.full(n_C, 0.5, np.float32), np.full(n_C, 2.0, np.float32)
    out, cache = bn.batchnorm_forward(x, gamma, beta, rm, rv, 1e-5, 0.1, train)
    dx, dgamma, dbeta = bn.batchnorm_backward(dout, cache)
    return out, dx, dgamma, dbeta, rm, rv


def test_one_and_two_threads_agree_bit_for_bit_and_with_py_func():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7, 3, 4)).astype(np.float32) * 3 + 1
    dout = rng.standard_normal(x.shape).astype(np.float32)
    gamma = rng.standard_normal(7).astype(np.float32)
    beta = rng.standard_normal(7).astype(np.float32)
    before = numba.get_num_threads()
    try:
        for train in (True, False):
            results = []
            for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
                numba.set_num_threads(threads)
                results.append(_run(x, dout, gamma, beta, train))
            for a, b in zip(*results):
                assert np.array_equal(a, b)
            # the serial Python of both kernels on the same arrays
            n_C = x.shape[1]
            x3, d3 = x.reshape(5, n_C, -1), dout.reshape(5, n_C, -1)
            rm, rv = np.full(n_C, 0.5, np.float32), np.full(n_C, 2.0, np.float32)
            out = np.empty_like(x3)
            mean, inv_std = np.empty(n_C, np.float32), np.empty(n_C, np.float32)
            bn.batchnorm_forward_kernel.py_func(x3, gamma, beta, 1e-5, 0.1, train, rm, rv, out, mean, inv_std,
                                                bn.scratch_for(x.shape))
            dx, dgamma, dbeta = np.empty_like(x3), np.empty(n_C, np.float32), np.empty(n_C, np.float32)
            bn.batchnorm_backward_kernel.py_func(d3, x3, gamma, mean, inv_std, train, dx, dgamma, dbeta,
                                                 bn.scratch_for(x.shape))
            for ours, ref in zip(results[0], (out.reshape(x.shape), dx.reshape(x.shape), dgamma, dbeta, rm, rv)):
                np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    finally:
        numba.set_num_threads(before)


def test_blocks_of_channels_equal_py_func_exactly():
    """Several channels per block (n_C = 40: 3 per block) at L = 1 (BatchNorm1d), 4 and 300: the
    compiled kernels sum in py_func's order, so every output and gradient is equal bit for bit; and a channel's statistics are its own (against numpy per channel, float64)."""
    rng = np.random.default_rng(1)
    for shape in ((6, 40), (6, 40, 2, 2), (3, 40, 15, 20)):
        x = (rng.standard_normal(shape) * 2 + np.arange(40).reshape((1, 40) + (1,) * (len(shape) - 2))).astype(np.float32)
        dout = rng.standard_normal(shape).astype(np.float32)
        gamma = rng.standard_normal(40).astype(np.float32)
        beta = rng.standard_normal(40).astype(np.float32)
        for train in (True, False):
            ours = _run(x, dout, gamma, beta, train)
            x3, d3 = x.reshape(shape[0], 40, -1), dout.reshape(shape[0], 40, -1)
            rm, rv = np.full(40, 0.5, np.float32), np.full(40, 2.0, np.float32)
            out, mean, inv_std = np.empty_like(x3), np.empty(40, np.float32), np.empty(40, np.float32)
            bn.batchnorm_forward_kernel.py_func(x3, gamma, beta, 1e-5, 0.1, train, rm, rv, out, mean, inv_std,
                                                bn.scratch_for(x.shape))
            dx, dgamma, dbeta = np.empty_like(x3), np.empty(40, np.float32), np.empty(40, np.float32)
            bn.batchnorm_backward_kernel.py_func(d3, x3, gamma, mean, inv_std, train, dx, dgamma, dbeta,
                                                 bn.scratch_for(x.shape))
            for a, b in zip(ours, (out.reshape(shape), dx.reshape(shape), dgamma, dbeta)):
                assert np.array_equal(a, b)
            # the running statistics to one float32 ulp: in py_func, 0.9·running_mean[c] is float32
            # arithmetic (NumPy's promotion of a Python float with a float32 scalar), float64 compiled
            for a, b in zip(ours[4:], (rm, rv)):
                np.testing.assert_allclose(a, b, rtol=3e-7, atol=0)
            if train:
                per_channel = x3.astype(np.float64).transpose(1, 0, 2).reshape(40, -1)
                np.testing.assert_allclose(mean, per_channel.mean(axis=1), rtol=1e-6)
                np.testing.assert_allclose(inv_std, 1 / np.sqrt(per_channel.var(axis=1) + 1e-5), rtol=1e-5)
                np.testing.assert_allclose(dbeta, d3.astype(np.float64).sum(axis=(0, 2)), rtol=1e-5, atol=1e-5)
                # out, dγ and dx from the formulas in float64, per channel (the blocks must not mix channels)
                mu = per_channel.mean(axis=1).reshape(1, 40, 1)
                s = 1 / np.sqrt(per_channel.var(axis=1) + 1e-5).reshape(1, 40, 1)
                x_hat = (x3 - mu) * s
                d64, g = d3.astype(np.float64), gamma.astype(np.float64).reshape(1, 40, 1)
                N = x3.shape[0] * x3.shape[2]
                dg = (d64 * x_hat).sum(axis=(0, 2))
                dx_ref = g * s * (d64 - d64.sum(axis=(0, 2), keepdims=True) / N - x_hat * dg.reshape(1, 40, 1) / N)
                np.testing.assert_allclose(ours[0].reshape(x3.shape), g * x_hat + beta.reshape(1, 40, 1), rtol=1e-4, atol=1e-4)
                np.testing.assert_allclose(ours[2], dg, rtol=1e-4, atol=1e-4)
                np.testing.assert_allclose(ours[1].reshape(x3.shape), dx_ref, rtol=1e-4, atol=1e-4)
