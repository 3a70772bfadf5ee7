"""Which convolution kernel a layer runs, and its chunk size, from what this processor reports and measures.

Nothing here is a constant tuned on one machine:
  processor()  the host as LLVM sees it (the CPU name and features Numba compiles for; NUMBA_CPU_NAME
               and NUMBA_CPU_FEATURES override both), its float32 vector width and vector register count
               (kernels.py sizes its register tiles by it), and its cache sizes
               (/sys/devices/system/cpu/cpu0/cache, else os.sysconf, else None: the rules then fall
               back to a 1 MiB L2 and 4 MiB of L3 per core).
  gemm_chunk   images per sgemm of the im2col path (gemm_kernels.py): a product of N = chunk·n_H·n_W
               columns reuses each weight N times; N grows to 512 columns (beyond, OpenBLAS measured no
               faster) or until the im2col panel, K·N floats, fills half of this core's share of L3.
  choose()     for a layer that both the direct kernel (kernels.conv2d_*) and the im2col + sgemm path can
               run: measured once (forward + backward on one and on two chunks of images per lane, the line
               through the two extrapolated to the batch (whole_batch), the fastest of three tries each,
               the paths taking turns so that other work on the machine weighs on all of them) and
               kept in a JSON file beside Numba's cache (NUMBA_CACHE_DIR, else the user cache directory),
               keyed by the processor, the thread count and the layer; later runs read it back. Small
               layers (under TUNE_MACS multiply-adds per image) and machines without SciPy (Numba calls
               sgemm through scipy.linalg.cython_blas) take the direct kernel unmeasured, so neither the
               cold start of small networks nor a missing SciPy pays for a path it would not take.
               CNNCALC_CONV_PATH=direct|gemm forces one path (tests, comparisons); auto is the default.
               A 3×3, stride-1, undilated, ungrouped layer has a third candidate, Winograd F(2×2, 3×3)
               (winograd_kernels.py), measured beside the two; CNNCALC_CONV_PATH=winograd forces it on
               those layers, and the others then take the direct kernel (source "not_eligible").
  winograd_chunk  images per product of the Winograd path: T = chunk·tiles columns, up to 256 or until
               its two panels, V (16·C·T floats) and M (16·K·T), fill half of this core's share of L3.

describe() returns all of it as plain data (the benchmark prints it; `cnncalc train --verbose` renders it).
"""

from __future__ import annotations

import importlib.util
import math
import json
import os
import time

TUNE_MACS = 2_000_000  # multiply-adds per image below which the direct kernel is taken unmeasured
CACHE_FILE = "cnncalc-conv-tuning.json"

_processor = None
_decisions: dict[str, dict] = {}  # this process's choices, in the order made: describe()'s "layers"
_stored: dict | None = None


def _cache_sizes() -> dict[str, int | None]:
    """{"L1d", "L2", "L3"}: bytes, and "L3_sharing": the CPUs that share the L3 (1 when unknown)."""
    sizes: dict[str, int | None] = {"L1d": None, "L2": None, "L3": None, "L3_sharing": 1}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        entries = []
    for entry in entries:
        if not entry.startswith("index"):
            continue
        try:
            def read(name, entry=entry):
                with open(os.path.join(base, entry, name)) as fh:
                    return fh.read().strip()
            level, kind, size = int(read("level")), read("type"), read("size")
            number = int(size.rstrip("KMG"))
            value = number * {"K": 1024, "M": 1024**2, "G": 1024**3}.get(size[-1:], 1)
            shared = read("shared_cpu_list")
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        name = {1: "L1d", 2: "L2", 3: "L3"}.get(level)
        if name:
            sizes[name] = value
            if name == "L3":
                sizes["L3_sharing"] = max(1, _count_cpus(shared))
    for name, key in (("L1d", "SC_LEVEL1_DCACHE_SIZE"), ("L2", "SC_LEVEL2_CACHE_SIZE"), ("L3", "SC_LEVEL3_CACHE_SIZE")):
        if sizes[name] is None:
            try:
                value = os.sysconf(key)
                sizes[name] = value if value > 0 else None
            except (ValueError, OSError, AttributeError):
                pass
    return sizes


def _count_cpus(cpu_list: str) -> int:
    """The number of CPUs in a list as /sys writes it: "0-3,8-11" → 8."""
    count = 0
    for part in cpu_list.split(","):
        lo, _, hi = part.partition("-")
        if lo.strip().isdigit():
            count += int(hi) - int(lo) + 1 if hi.strip().isdigit() else 1
    return count


def vector_width(features: set[str]) -> int:
    """float32 lanes of the widest vector register LLVM may use: 16 with AVX-512, 8 with AVX, 4 otherwise
    (SSE, NEON; SVE's width is not known at compile time and Numba does not target it)."""
    if "avx512f" in features:
        return 16
    if "avx" in features or "avx2" in features:
        return 8
    return 4


def vector_registers(name: str, features: set[str]) -> int:
    """Vector registers the kernels' register tiles may fill: 32 with AVX-512 (zmm0–31) and on AArch64
    (v0–31), 16 on other x86 (ymm0–15 or xmm0–15)."""
    if "avx512f" in features or "neon" in features or "asimd" in features or name.startswith(("apple", "cortex",
                                                                                                 "neoverse")):
        return 32
    return 16


# LLVM's x86 processor names with AVX-512, and with AVX2 (+ FMA), for NUMBA_CPU_NAME with NUMBA_CPU_FEATURES=""
# (LLVM then compiles for the named processor's own features, which llvmlite does not list)
_NAMED_AVX512 = ("skylake-avx512", "cascadelake", "cooperlake", "cannonlake", "icelake-client", "icelake-server",
                 "tigerlake", "rocketlake", "sapphirerapids", "emeraldrapids", "graniterapids", "znver4", "znver5",
                 "knl", "knm", "x86-64-v4")
_NAMED_AVX2 = ("haswell", "broadwell", "skylake", "alderlake", "raptorlake", "meteorlake", "arrowlake", "lunarlake",
               "gracemont", "znver1", "znver2", "znver3", "x86-64-v3", "bdver4")


def _named_features(name: str) -> set[str]:
    if name.startswith(_NAMED_AVX512):
        return {"avx", "avx2", "fma", "avx512f"}
    if name.startswith(_NAMED_AVX2):
        return {"avx", "avx2", "fma"}
    if name in ("sandybridge", "ivybridge", "bdver1", "bdver2", "bdver3", "btver2"):
        return {"avx"}
    return set()


def processor() -> dict:
    """{"name", "vector_width", "vector_registers", "features" (the vector extensions), "L1d", "L2", "L3",
    "L3_sharing"}.

    The features are those Numba compiles for: NUMBA_CPU_FEATURES when it lists some; the named
    processor's own when it is set but empty (as the benchmark's and the tests' AVX2 runs set it);
    else the host's, which Numba passes even beside a NUMBA_CPU_NAME."""
    global _processor
    if _processor is None:
        import numba
        from llvmlite import binding

        name = numba.config.CPU_NAME or binding.get_host_cpu_name()
        if numba.config.CPU_FEATURES:
            features = {f[1:] for f in numba.config.CPU_FEATURES.split(",") if f.startswith("+")}
        elif numba.config.CPU_FEATURES is not None and numba.config.CPU_NAME:
            features = _named_features(name)
        else:
            features = {k for k, v in binding.get_host_cpu_features().items() if v}
        vector = sorted(f for f in features if f.startswith(("avx", "sse", "neon", "sve", "fma", "asimd")))
        _processor = {"name": name, "vector_width": vector_width(features),
                      "vector_registers": vector_registers(name, features), "features": vector, **_cache_sizes()}
    return _processor


def wide_tiles() -> bool:
    """Whether the direct kernels' register tiles take 8 rows (product) and 4 × 4 sums (weight gradient),
    which fill 32 vector registers, or 4 rows and 2 × 4 sums, which fit in 16 (kernels.WIDE_TILES)."""
    return processor()["vector_registers"] >= 32


def blas_in_numba() -> bool:
    """Whether Numba can call sgemm (np.dot in nopython mode needs SciPy's cython_blas)."""
    return importlib.util.find_spec("scipy") is not None


_pinned = False


def pin_scipy_blas() -> None:
    """SciPy's BLAS to one thread, once: the im2col path calls its sgemm from every Numba lane, and an
    OpenBLAS that starts threads of its own inside Numba's oversubscribes the cores (and warns of an
    OpenMP loop). numpy's BLAS, a separate library, is left as it is (the engine holds it to one thread
    while training: resources.Threads)."""
    global _pinned
    if _pinned:
        return
    _pinned = True
    try:
        import scipy.linalg.cython_blas  # noqa: F401 — loads the library threadpoolctl then finds
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return
    for lib in ThreadpoolController().select(user_api="blas").lib_controllers:
        if f"{os.sep}scipy" in lib.filepath:  # scipy.libs/, scipy/.dylibs/: SciPy's own copy
            lib.set_num_threads(1)


def forced_path() -> str:
    """CNNCALC_CONV_PATH: "direct", "gemm", "winograd" or "auto" (the default; anything else reads as auto)."""
    value = os.environ.get("CNNCALC_CONV_PATH", "auto").strip().lower()
    return value if value in ("direct", "gemm", "winograd") else "auto"


def gemm_chunk(share: int, n_positions: int, taps: int) -> int:
    """Images per product of the im2col path, from 1 to share (a lane's images).

    n_positions = n_H·n_W, taps = K = C_g·f_H·f_W: N = chunk·n_positions columns, up to 512 or up
    to a panel of K·N floats in half the L3 per core (4 MiB per core when unknown)."""
    columns = max(1, min(512, _l3_per_core() // 2 // (4 * max(taps, 1))))
    return max(1, min(share, columns // max(n_positions, 1)))


_caches = None


def _l3_per_core() -> int:
    """The L3 bytes per core (4 MiB when unknown): processor()'s when it was asked, else _cache_sizes' alone (the
    same figures, without the CPU's name: the memory planner asks without loading Numba)."""
    global _caches
    info = _processor
    if info is None:
        if _caches is None:
            _caches = _cache_sizes()
        info = _caches
    return info["L3"] // max(info["L3_sharing"], 1) if info["L3"] else 4 * 1024**2


# Tiles per Winograd product: on ResNet-18's layers (2 threads, batch 64, Zen 4) 256 was as fast as 512 or faster
# everywhere (64@32×32: forward 20.6 against 22.6 ms, 1,024 tiles 28.7 ms; 128@16×16: 17.0 against 19.1 ms).
WINOGRAD_COLUMNS = 256


def winograd_chunk(share: int, tiles: int, n_C_prev: int, n_C: int) -> int:
    """Images per set of 16 products of the Winograd path, from 1 to share (a lane's images).

    tiles = ⌈n_H/2⌉·⌈n_W/2⌉ per image: T = chunk·tiles rows of the panels, up to WINOGRAD_COLUMNS or up to
    the panels V (16·n_C_prev·T floats) and M (16·n_C·T) together in half the L3 per core."""
    columns = max(1, min(WINOGRAD_COLUMNS, _l3_per_core() // 2 // (4 * 16 * max(n_C_prev + n_C, 1))))
    return max(1, min(share, columns // max(tiles, 1)))


def _cache_path() -> str | None:
    folder = os.environ.get("NUMBA_CACHE_DIR")
    if not folder:
        try:
            import platformdirs

            folder = platformdirs.user_cache_dir("cnncalc")
        except ImportError:
            return None
    return os.path.join(folder, CACHE_FILE)


def _load() -> dict:
    global _stored
    if _stored is None:
        _stored = {}
        path = _cache_path()
        if path:
            try:
                with open(path, encoding="utf-8") as fh:
                    data = json.load(fh)
                _stored = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                _stored = {}
    return _stored


def _save(key: str, record: dict) -> None:
    """Adds one record to the file (read again first: other processes may have written theirs)."""
    global _stored
    _stored = None
    stored = dict(_load())
    stored[key] = record
    _stored = stored
    path = _cache_path()
    if not path:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(stored, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache: the choice is measured again next time


TRIES = 3  # measured tries per path, the fastest kept
# The kernels' generation, part of every stored key: a choice measured against kernels since rewritten, or
# measured another way, is measured again rather than read back (generation 2: the Winograd path's
# channels-last transforms, and trials at two sizes extrapolated to the batch, kernels.Conv._choose).
KERNELS = 2


def whole_batch(seconds, sizes, m: int) -> float:
    """Seconds for m images from a trial's seconds on sizes[0] images and, when measured, on sizes[1]: the line
    through the two (t = fixed + per_image·images) at m. With one size, or where noise made the larger size no
    slower, the last size's seconds scaled by m / size."""
    if len(seconds) == 2 and seconds[1] > seconds[0] and sizes[1] > sizes[0]:
        per_image = (seconds[1] - seconds[0]) / (sizes[1] - sizes[0])
        return seconds[1] + per_image * (m - sizes[1])
    return seconds[-1] * m / sizes[len(seconds) - 1]


def choose(layer: dict, macs_per_image: int, threads: int, trial, candidates=("direct", "gemm"), prepare=None) -> dict:
    """The layer's record with {"path": one of candidates, "source": "forced" | "not_eligible" | "rule" |
    "stored" | "measured", "seconds": {path: …} when measured}.

    layer: the shape as plain data (the key); trial(path) → seconds of forward + backward on a few
    images (called only when measuring); candidates: the paths this layer can take ("winograd" only
    for 3×3 stride-1 layers); prepare(candidates), when given, is called once before measuring."""
    info = processor()
    key = {"cpu": info["name"], "features": info["features"], "threads": threads, "kernels": KERNELS, **layer}
    if tuple(candidates) != ("direct", "gemm"):
        key["paths"] = list(candidates)  # a choice among two paths says nothing about a third
    key = json.dumps(key, sort_keys=True)
    forced = forced_path()
    if forced != "auto" and forced not in candidates:
        choice = {"path": "direct", "source": "not_eligible"}
    elif forced != "auto":
        choice = {"path": forced if (forced == "direct" or blas_in_numba()) else "direct", "source": "forced"}
    elif not blas_in_numba() or macs_per_image < TUNE_MACS:
        choice = {"path": "direct", "source": "rule"}
    elif key in _load():
        choice = dict(_load()[key], source="stored")
    else:
        if prepare is not None:
            prepare(candidates)
        for path in candidates:
            trial(path)  # compiled and warm
        seconds = {path: math.inf for path in candidates}
        for _ in range(TRIES):  # in turns: a burst of other work on a shared machine slows every path alike
            for path in candidates:
                seconds[path] = min(seconds[path], trial(path))
        choice = {"path": min(seconds, key=seconds.get), "seconds": seconds, "when": time.strftime("%Y-%m-%d")}
        _save(key, choice)
        choice = dict(choice, source="measured")
    _decisions[key] = record = dict(layer, **choice)
    return record  # the caller may add to it (Conv adds its chunk): describe() shows the same record


def describe() -> dict:
    """Plain data: the processor, whether sgemm is reachable from Numba, the forced path, and the
    choice made for every conv layer built in this process (its shape, path, chunk and why)."""
    return {"processor": processor(), "wide_tiles": wide_tiles(), "blas_in_numba": blas_in_numba(),
            "forced_path": forced_path(),
            "tune_macs": TUNE_MACS, "cache_file": _cache_path(), "layers": list(_decisions.values())}
