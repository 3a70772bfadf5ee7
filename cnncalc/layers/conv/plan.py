"""The layouts the conv kernels use for one layer and batch size, and the workspace arrays they need.

Plain Python (no numpy, no Numba): kernels.Conv allocates what workspace_shapes names, and the memory
planner (analysis/memory.py) counts the same shapes without loading numpy. dtypes are numpy's names
("float32", "int64"); np.dtype(name) reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

LANES = 16  # float32 lanes of an AVX-512 register: rows are padded to a multiple of this


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


# ------------------------------------------------------------------ the plan: layouts and workspace shapes

@dataclass(frozen=True)
class ConvPlan:
    """The layouts conv2d_forward/backward use for one layer and batch size, and the workspace they need.

    Sizes are the caller's (n_H, n_W from arith.out_length); the plan derives only layouts:
    stride_1 selects the direct path; n_W_pad is the wide row pitch; P the row length of the
    products (n_H·n_W_pad rounded up to 16); K4 the taps C_g·f_H·f_W rounded up to 4; lanes the
    most threads the workspace serves (numba.config.NUMBA_NUM_THREADS in Conv).
    """

    m: int
    n_C_prev: int
    n_H_prev: int
    n_W_prev: int
    n_C: int
    f_H: int
    f_W: int
    s_H: int
    s_W: int
    pads: tuple
    d_H: int
    d_W: int
    groups: int
    n_H: int
    n_W: int
    lanes: int
    gemm_chunk: int = 0  # images per sgemm on the im2col + BLAS path (gemm_kernels); 0: the direct kernels
    winograd_chunk: int = 0  # images per set of 16 sgemms on the Winograd path (winograd_kernels); 0: not taken

    @property
    def winograd_eligible(self) -> bool:
        """A 3×3, stride-1, undilated, ungrouped layer: the Winograd F(2×2, 3×3) path can run it."""
        p_top, p_bottom, p_left, p_right = self.pads
        return ((self.f_H, self.f_W, self.s_H, self.s_W, self.d_H, self.d_W, self.groups) == (3, 3, 1, 1, 1, 1, 1)
                and self.n_H == self.n_H_prev + p_top + p_bottom - 2 and self.n_W == self.n_W_prev + p_left + p_right - 2)

    @property
    def tiles(self) -> tuple[int, int]:
        """2×2 output tiles per image of the Winograd path: forward ⌈n_H/2⌉·⌈n_W/2⌉, dx ⌈n_H_prev/2⌉·⌈n_W_prev/2⌉."""
        return (-(-self.n_H // 2)) * (-(-self.n_W // 2)), (-(-self.n_H_prev // 2)) * (-(-self.n_W_prev // 2))

    @property
    def stride_1(self) -> bool:
        return self.s_H == 1 and self.s_W == 1

    @property
    def depthwise(self) -> bool:
        """One filter per channel (groups = n_C_prev = n_C): depthwise_kernels."""
        return self.groups == self.n_C_prev == self.n_C and self.groups > 1

    @property
    def batched(self) -> bool:
        """A depthwise layer on a map of at most 16 columns: the images are the vector (depthwise_*_batched).
        Measured (1 thread, benchmarks/train_speed.py's machine): 2 to 10× faster than along the rows
        for n_W ≤ 16 (MobileNet's maps at 32×32 input), 1.5 to 5× slower at 56 and 112 columns."""
        return self.depthwise and self.n_W <= 16

    @property
    def M(self) -> int:
        """Images per pass of the batched depthwise kernels: the batch rounded up to 16, at most 64."""
        return min(64, _round_up(self.m, LANES))

    @property
    def pointwise(self) -> bool:
        """A 1×1 kernel, stride 1, no padding, groups 1: pointwise_forward/backward, positions × channels."""
        return (self.f_H, self.f_W, self.s_H, self.s_W, self.groups) == (1, 1, 1, 1, 1) and not any(self.pads)

    @property
    def chunk(self) -> int:
        """Images per product on the pointwise path: about 2¹⁵ floats of rows (R × the wider of C16
        and N16: 128 KiB, a quarter of L2), at least one image, at most a lane's share of the batch,
        and the share split evenly."""
        share = -(-self.m // self.lanes)
        most = max(1, min(share, 2**15 // (_round_up(max(self.n_C_prev, self.n_C), LANES) * self.n_H * self.n_W)))
        return -(-share // -(-share // most))

    @property
    def R(self) -> int:
        """Rows (positions) of one pointwise product: chunk·n_H·n_W rounded up to 4."""
        return _round_up(self.chunk * self.n_H * self.n_W, 4)

    @property
    def C_g(self) -> int:
        return self.n_C_prev // self.groups

    @property
    def n_C_g(self) -> int:
        return self.n_C // self.groups

    @property
    def n_H_pad(self) -> int:
        return self.n_H + self.d_H * (self.f_H - 1)

    @property
    def n_W_pad(self) -> int:
        return self.n_W + self.d_W * (self.f_W - 1) if self.stride_1 else self.n_W

    @property
    def pitch(self) -> int:
        """Floats per channel of a padded image."""
        return self.n_H_pad * self.n_W_pad

    @property
    def K(self) -> int:
        return self.C_g * self.f_H * self.f_W

    @property
    def K4(self) -> int:
        return _round_up(self.K, 4)

    @property
    def P(self) -> int:
        return _round_up(self.n_H * self.n_W_pad, LANES)

    def k_off(self):
        """(K4,) int64 offsets of the taps in a source row; the padding taps point at 0 (zero weights)."""
        import numpy as np

        k_off = np.zeros(self.K4, "int64")
        if self.stride_1:
            c, a, b = np.meshgrid(np.arange(self.C_g), np.arange(self.f_H), np.arange(self.f_W), indexing="ij")
            k_off[:self.K] = (c * self.pitch + a * self.d_H * self.n_W_pad + b * self.d_W).ravel()
        else:
            k_off[:self.K] = np.arange(self.K) * self.P
        return k_off

    def k_off_dx(self):
        """(n_C_g rounded up to 4,) int64 offsets of dout's rows, c·P: the taps of the dx product."""
        import numpy as np

        k_off = np.zeros(_round_up(self.n_C_g, 4), "int64")
        k_off[:self.n_C_g] = np.arange(self.n_C_g) * self.P
        return k_off

    @property
    def reach(self) -> int:
        """Floats read from the start of a padded image (direct path): the last group's first channel,
        the furthest tap, and a product row of P."""
        return (self.groups - 1) * self.C_g * self.pitch + self.far_tap + self.P

    @property
    def far_tap(self) -> int:
        """max(k_off()): the last tap's offset, every term of an offset being ≥ 0 and largest for the last tap:
        (C_g − 1)·pitch + (f_H − 1)·d_H·n_W_pad + (f_W − 1)·d_W on the stride-1 path, (K − 1)·P otherwise."""
        if self.stride_1:
            return (self.C_g - 1) * self.pitch + (self.f_H - 1) * self.d_H * self.n_W_pad + (self.f_W - 1) * self.d_W
        return (self.K - 1) * self.P

    @property
    def kernel(self) -> str:
        """The kernels Conv runs for this layer: "depthwise", "depthwise_batched", "pointwise", "gemm", "winograd"
        or "conv2d"."""
        if self.depthwise:
            return "depthwise_batched" if self.batched else "depthwise"
        if self.pointwise:
            return "pointwise"
        if self.winograd_chunk > 0:
            return "winograd"
        return "gemm" if self.gemm_chunk > 0 else "conv2d"

    @property
    def share(self) -> int:
        """The most images one lane takes: the batch split over the lanes."""
        return -(-self.m // self.lanes)

    def workspace_shapes(self, need_dx: bool = True, kernel: str = "conv2d") -> dict[str, tuple]:
        """{name: (shape, dtype)} of every workspace array; need_dx False leaves out the dx product's."""
        L, n_C_g4 = self.lanes, _round_up(self.n_C_g, 4)
        if kernel.startswith("depthwise"):
            p_top, p_bottom, p_left, p_right = self.pads
            plane = (L, self.n_H_prev + p_top + p_bottom, self.n_W_prev + p_left + p_right)
            if kernel == "depthwise_batched":  # M images' padded planes, outputs, dx and dW sums, the images along the vector
                M = self.M
                return {"X": (plane + (M,), "float32"), "Y": ((L, self.n_H, self.n_W, M), "float32"),
                        "dX": (plane + (M,) if need_dx else (1, 1, 1, 1), "float32"),
                        "acc": ((L, self.f_H, self.f_W, M), "float32")}
            # one zero-padded plane per lane for x and one for dx
            return {"xp": (plane, "float32"), "dxp": (plane if need_dx else (1, 1, 1), "float32")}
        if kernel == "gemm":  # per lane: the im2col panel, the product, dout's rows, dcols, dW's partial sums
            L, N, f32 = self.lanes, max(self.gemm_chunk, 1) * self.n_H * self.n_W, "float32"
            return {"cols": ((L, self.K * N), f32), "y": ((L, self.n_C_g * N), f32), "dy": ((L, self.n_C * N), f32),
                    "dcols": ((L, self.K * N if need_dx else 0), f32), "G_tmp": ((L, self.n_C_g, self.K), f32),
                    "G_lanes": ((L, self.groups, self.n_C_g, self.K), f32), "db_lanes": ((L, self.n_C), f32)}
        if kernel == "winograd":  # the filters' transforms; per lane a channels-last plane in and out, the V and M
            # panels, scratch rows, dU's sums (winograd_kernels)
            L, chunk, C, K, f32 = self.lanes, max(self.winograd_chunk, 1), self.n_C_prev, self.n_C, "float32"
            tiles, tiles_dx = self.tiles
            tiles_dx = tiles_dx if need_dx else 0
            n_ty, n_tx = -(-self.n_H // 2), -(-self.n_W // 2)
            n_ty_dx, n_tx_dx = -(-self.n_H_prev // 2), -(-self.n_W_prev // 2)
            plane = max((2 * n_ty + 2) * (2 * n_tx + 2) * C, 4 * n_ty * n_tx * K)  # x padded; dout for dW
            out_plane = 4 * n_ty * n_tx * K
            rows = max(4 * (2 * n_tx + 2) * max(C, K), 8 * K, 37 * C)  # tiles in and out; filters
            if need_dx:
                plane = max(plane, (2 * n_ty_dx + 2) * (2 * n_tx_dx + 2) * K)
                out_plane = max(out_plane, 4 * n_ty_dx * n_tx_dx * C)
                rows = max(rows, 4 * (2 * n_tx_dx + 2) * K, 8 * C)
            return {"U": ((16, K, C), f32), "plane": ((L, plane), f32), "out_plane": ((L, out_plane), f32),
                    "rows": ((L, rows), f32), "V": ((L, 16 * chunk * max(C * tiles, K * tiles_dx)), f32),
                    "M": ((L, 16 * chunk * max(K * tiles, C * tiles_dx)), f32), "dU_tmp": ((L, K, C), f32),
                    "dU_lanes": ((L, 16, K, C), f32), "db_lanes": ((L, K), f32)}
        if kernel == "pointwise":
            C16, N16, R, f32, i64 = _round_up(self.n_C_prev, LANES), _round_up(self.n_C, LANES), self.R, "float32", "int64"
            return {"k_off_C": ((C16,), i64), "k_off_N": ((N16,), i64), "k_off_R": ((R,), i64),
                    "WT": ((C16, N16), f32), "Wp": ((N16 if need_dx else 0, C16), f32),
                    "ws_rows_x": ((L, R, C16), f32), "ws_rows_y": ((L, R, N16), f32),
                    "ws_cols_x": ((L, self.n_C_prev, R), f32), "GT_lanes": ((L, self.n_C_prev, N16), f32),
                    "db_lanes": ((L, self.n_C), f32)}
        if self.stride_1:
            src = max(self.n_C_prev * self.pitch, self.reach)
            pitch_dx = max(self.pitch, self.P)
            shift = (self.f_H - 1) * self.d_H * self.n_W_pad + (self.f_W - 1) * self.d_W  # the furthest tap
            dx = (self.C_g - 1) * pitch_dx + shift + self.P
            A_dx = (self.groups, self.f_H * self.f_W, self.C_g, n_C_g4)
        else:
            src = dx = self.K * self.P
            A_dx = (self.groups, 1, self.K, n_C_g4)
        if not need_dx:
            dx, A_dx = LANES, (1, 1, 1, 4)
        f32, i64 = "float32", "int64"
        return {
            "k_off": ((self.K4,), i64), "k_off_dx": ((n_C_g4,), i64),
            "A": ((self.groups, self.n_C_g, self.K4), f32), "A_dx": (A_dx, f32),
            "ws_src": ((L, src), f32), "ws_y": ((L, self.n_C_g * self.P), f32),
            "ws_dy": ((L, self.n_C, self.P), f32), "ws_dx": ((L, dx), f32),
            "dW_lanes": ((L, self.groups, self.n_C_g, self.K4), f32), "db_lanes": ((L, self.n_C), f32),
        }

    # How the arrays may join a network's arena (layers/workspace.py); a kernel not named shares all its arrays,
    # zeroed whenever it takes the arena over from another layer.
    # KEEP: what must survive between calls, so stays the layer's own: the offsets written at build, and what a
    # forward leaves for its backward (the pointwise Wp; WT keeps its zero padding).
    KEEP = {"conv2d": ("k_off", "k_off_dx"), "pointwise": ("k_off_C", "k_off_N", "k_off_R", "WT", "Wp")}
    # REWRITTEN: arrays the kernels fully write before reading, on every call (no zeroing needed): the packed
    # weights (zeroed by the packing), rows zeroed per image, per-lane sums zeroed per call, im2col panels.
    REWRITTEN = {"conv2d": ("A", "A_dx", "ws_y", "ws_dx", "dW_lanes", "db_lanes"),
                 "pointwise": ("ws_cols_x", "GT_lanes", "db_lanes"),
                 "gemm": ("cols", "y", "dy", "dcols", "G_tmp", "G_lanes", "db_lanes"),
                 # Winograd: the filters' transforms from W on every call, planes padded in full, panels written
                 # before the products read them, dU and db sums zeroed per call; nothing outlives a call
                 "winograd": ("U", "plane", "out_plane", "rows", "V", "M", "dU_tmp", "dU_lanes", "db_lanes")}

    def workspace(self, need_dx: bool = True, kernel: str = "conv2d") -> dict:
        """The workspace arrays, allocated once and reused every step; zero-filled, and the kernels
        rely on it: they write only the image inside the padded buffers (the zero border is never
        rewritten), and the reads past an image that feed only discarded columns meet zeros, never
        an uninitialised NaN (0·NaN would poison dW)."""
        import numpy as np

        ws = {name: np.zeros(shape, dtype) for name, (shape, dtype) in self.workspace_shapes(need_dx, kernel).items()}
        if kernel == "pointwise":
            C16, N16 = ws["WT"].shape
            ws["k_off_C"][:] = np.arange(C16) * N16
            ws["k_off_N"][:] = np.arange(N16) * C16
            ws["k_off_R"][:] = np.arange(self.R) * N16
        elif kernel == "conv2d":
            ws["k_off"][:] = self.k_off()
            ws["k_off_dx"][:] = self.k_off_dx()
        return ws

    def geometry(self) -> tuple:
        """(stride_1, s_H, s_W, p_top, p_left, d_H, d_W, n_W_pad), as the kernels take them."""
        p_top, _, p_left, _ = self.pads
        return (self.stride_1, self.s_H, self.s_W, p_top, p_left, self.d_H, self.d_W, self.n_W_pad)
