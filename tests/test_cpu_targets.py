"""The kernels on processors other than this one: Numba compiles for the processor NUMBA_CPU_NAME names.

NUMBA_CPU_NAME alone keeps the *host's* features (Numba passes them beside the name), so a haswell build
on an AVX-512 machine would still use AVX-512; NUMBA_CPU_FEATURES="" makes LLVM take the named processor's
own features. Every run gets a fresh NUMBA_CACHE_DIR: Numba's cache index is not keyed by the features.

- haswell (AVX2 + FMA, what many laptops have): the conv, pool, depthwise and 1×1 kernel tests, run;
- generic, haswell, skylake-avx512, znver4: every conv kernel entry point compiled (not run: this machine
  may lack the target's instructions), and the machine code's registers checked where a target rules
  some out (generic: no ymm/zmm; haswell: no zmm);
- ARM64: the LLVM IR of the generic x86-64 build, retargeted to aarch64 and emitted as an object file
  (llvmlite carries the AArch64 backend). Numba's own reference-count decrement arrives in that IR as an
  x86 intrinsic (llvm.x86.atomic.sub.cc); it is put back as the plain `atomicrmw sub` it stands for.
  This shows the kernels hold nothing x86-only; it is not Numba compiling on an ARM machine.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each target compiles the kernels from nothing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def target_env(cpu, cache):
    # no compile helper (layers/lanes.py): code it compiled would reach this process through the cache, and
    # Numba does not show the machine code of a function loaded from its cache
    env = dict(os.environ, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES="", NUMBA_CACHE_DIR=str(cache), CNNCALC_PREFETCH="0")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_the_conv_and_pool_kernel_tests_pass_under_haswell(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          "tests/test_kernels_conv_pool.py", "tests/test_depthwise.py"],
                         cwd=ROOT, env=target_env("haswell", tmp_path / "numba"), capture_output=True, text=True,
                         timeout=1800)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout.splitlines()[-1]


# Compiles every kernel the conv layers call from Python (Conv.forward and Conv.backward) for the
# argument types of one layer of each kernel, without running them; prints what it saw as JSON.
COMPILE = r"""
import json, re, sys, itertools
import numba, numpy as np
from cnncalc.layers.conv import kernels as k

from cnncalc.layers import lanes

# the parallel kernels (layers/lanes.py): each is a thin prange around bodies compiled on their own
entries = {n for f in (k.Conv.forward, k.Conv.backward) for n in f.__code__.co_names
           if hasattr(getattr(k, n, None), "kernel")}
compiled = {}
programs = []  # (dispatcher, signature): every kernel and every body it calls, as compiled

class CompileOnly:
    def __init__(self, name):
        self.name, self.run = name, getattr(k, name)
        self.bodies = self.run.bodies
    def __call__(self, *args):
        sig = tuple([numba.types.intp] * len(self.run.bodies) + [numba.typeof(a) for a in args])
        self.run.kernel.compile(sig)
        programs.append((self.run.kernel, sig))
        for body in self.run.bodies:
            lanes.address(body)
            programs.append((body.dispatcher, body.signature))
        compiled.setdefault(self.name, set()).add(sig)

for name in entries:
    setattr(k, name, CompileOnly(name))
# (n_C_prev, n_H_prev, n_W_prev, n_C, f, s, p, groups): one layer per kernel
layers = [(3, 8, 8, 4, 3, 1, 1, 1), (4, 9, 9, 6, 3, 2, 1, 2), (4, 8, 20, 4, 3, 1, 1, 4), (4, 8, 10, 4, 3, 1, 1, 4),
          (4, 8, 8, 6, 1, 1, 0, 1)]
kernels = set()
for C, H, W_, n_C, f, s, p, g in layers:
    n_H, n_W = (H + 2 * p - f) // s + 1, (W_ + 2 * p - f) // s + 1
    conv = k.Conv(2, C, H, W_, n_C, (f, f), (s, s), (p, p, p, p), (1, 1), g, n_H, n_W)
    kernels.add(conv.plan.kernel)
    x = np.zeros((2, C, H, W_), np.float32)
    W = np.zeros((n_C, C // g, f, f), np.float32)
    b = np.zeros(n_C, np.float32)
    conv.forward(x, W, b)
    conv.backward(np.zeros((2, n_C, n_H, n_W), np.float32), W, np.zeros_like(W), np.zeros_like(b))
programs = list(dict.fromkeys(programs))
registers = set()
for dispatcher, sig in programs:
    registers |= set(re.findall(r"%([xyz]mm)\d+", dispatcher.inspect_asm(sig)))
out = {"kernels": sorted(kernels), "entries": sorted(entries), "compiled": sorted(compiled),
       "registers": sorted(registers)}
if "arm64" in sys.argv:
    import llvmlite.binding as ll
    ll.initialize_all_targets(); ll.initialize_all_asmprinters()
    triple = "aarch64-unknown-linux-gnu"
    tm = ll.Target.from_triple(triple).create_target_machine(cpu="generic", features="+neon", opt=2)
    count = itertools.count()
    def decref(m):  # x86's "sub and test for zero": old value 1 ⇔ the new count is 0
        n = next(count)
        return (f"%decref.old.{n} = atomicrmw sub ptr {m.group(2)}, i64 1 seq_cst\n"
                f"  %decref.zero.{n} = icmp eq i64 %decref.old.{n}, 1\n  {m.group(1)} = zext i1 %decref.zero.{n} to i8")
    objects = {}
    names = {id(d): n for n in compiled
             for d in [getattr(k, n).run.kernel] + [b.dispatcher for b in getattr(k, n).run.bodies]}
    for dispatcher, sig in programs:
        name = names[id(dispatcher)]
        ir = dispatcher.inspect_llvm(sig)
        ir = re.sub(r"^target triple = .*$", f'target triple = "{triple}"', ir, flags=re.M)
        ir = re.sub(r"^target datalayout = .*$", f'target datalayout = "{tm.target_data}"', ir, flags=re.M)
        ir = re.sub(r'"target-(cpu|features)"="[^"]*"', "", ir)
        ir = re.sub(r"(%[\w.]+) = tail call i8 @llvm\.x86\.atomic\.sub\.cc\.i64\(ptr nonnull (%[\w.]+), i64 1, "
                    r"i32 4\)", decref, ir)
        ir = re.sub(r"^declare i8 @llvm\.x86\.atomic\.sub\.cc.*$", "", ir, flags=re.M)
        module = ll.parse_assembly(ir)
        module.verify()
        obj = tm.emit_object(module)
        asm = tm.emit_assembly(module)
        objects[name] = objects.get(name, []) + [
            {"elf_machine": int.from_bytes(obj[18:20], "little"), "bytes": len(obj),
             "x86_left": sorted(set(re.findall(r"llvm\.x86\.[\w.]+", ir))), "neon_fma": "fmla" in asm}]
    out["arm64"] = objects
print(json.dumps(out))
"""

# the conv layers' kernels, as kernels.ConvPlan names them
KERNELS = ["conv2d", "depthwise", "depthwise_batched", "pointwise"]


def compile_for(cpu, cache, *extra):
    out = subprocess.run([sys.executable, "-c", COMPILE, *extra], cwd=ROOT, env=target_env(cpu, cache),
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("cpu, forbidden", [
    ("generic", {"ymm", "zmm"}),   # x86-64's baseline: SSE2, 128-bit registers only
    ("haswell", {"zmm"}),          # AVX2: 256-bit, no AVX-512
    ("skylake-avx512", set()),
    ("znver4", set()),
])
def test_every_conv_kernel_compiles_for(cpu, forbidden, tmp_path):
    seen = compile_for(cpu, tmp_path / "numba", *(["arm64"] if cpu == "generic" else []))
    assert seen["kernels"] == KERNELS
    assert seen["compiled"] == seen["entries"] and len(seen["entries"]) >= 2 * len(KERNELS)
    assert seen["registers"]  # the check below looked at real machine code
    assert not forbidden & set(seen["registers"]), seen["registers"]
    if cpu == "generic":  # the same IR, for ARM64
        arm = seen["arm64"]
        assert sorted(arm) == seen["entries"]
        for name, objects in arm.items():
            for obj in objects:
                assert obj["elf_machine"] == 183, name  # EM_AARCH64
                assert obj["x86_left"] == [] and obj["bytes"] > 0, name
        # the forward product's inner loops reach NEON's fused multiply-add
        assert any(obj["neon_fma"] for obj in arm["conv2d_forward"])
