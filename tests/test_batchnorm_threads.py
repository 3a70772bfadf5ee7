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
            bn.batchnorm_forward_kernel.py_func(x3, gamma, beta, 1e-5, 0.1, train, rm, rv, out, mean, inv_std)
            dx, dgamma, dbeta = np.empty_like(x3), np.empty(n_C, np.float32), np.empty(n_C, np.float32)
            bn.batchnorm_backward_kernel.py_func(d3, x3, gamma, mean, inv_std, train, dx, dgamma, dbeta)
            for ours, ref in zip(results[0], (out.reshape(x.shape), dx.reshape(x.shape), dgamma, dbeta, rm, rv)):
                np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    finally:
        numba.set_num_threads(before)
