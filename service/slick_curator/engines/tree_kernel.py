"""Tree attention's attention step as one C function (`tree_kernel.c`), built on first use.

A pass of `tree_attention` attends each real token to its prefix's keys and to the own slots
its bias row allows. Through torch that is two fused-kernel calls on padded blocks, scatters
and gathers around them, and a merge; the kernel reads each token's keys where they lie
(no padding, no copies) and computes one softmax over both sets. Built with the system's C
compiler for this CPU (`-march=native`, OpenMP: torch's own runtime once torch is loaded)
into a cache directory (`_cache_dir`) keyed by the source, the compiler and the CPU; where no
compiler, no AVX-512, an unwritable cache or `SLICK_TREE_KERNEL=0`, `load()` is None and
torch's kernels are used (the same probabilities, up to rounding; slower on a CPU).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

__all__ = ["Kernel", "load"]

log = logging.getLogger(__name__)

# the attention step, and the elementwise steps of a layer (`tree_layer.c`)
SOURCES = [Path(__file__).with_name("tree_kernel.c"), Path(__file__).with_name("tree_layer.c")]
# -ffp-contract=off: no multiply-adds fused where torch rounds the product first
FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fopenmp", "-shared", "-fPIC",
         "-std=c11"]
_INT = ctypes.c_int64
_PTR = ctypes.c_void_p


def _cache_dir() -> Path:
    """SLICK_KERNEL_CACHE, else `kernels` under the service's cache (SLICK_CACHE_DIR, else
    ~/.cache/slick-curator): where the deployment keeps its caches writable."""
    from slick_curator.weights import default_cache_dir

    if os.environ.get("SLICK_KERNEL_CACHE"):
        return Path(os.environ["SLICK_KERNEL_CACHE"])
    return Path(os.environ.get("SLICK_CACHE_DIR") or default_cache_dir()) / "kernels"


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor()


def _build(compiler: list[str]) -> Path:
    version = subprocess.run([*compiler, "--version"], capture_output=True, text=True,
                             check=True, timeout=60).stdout
    key = hashlib.sha256("\0".join([*(source.read_text() for source in SOURCES), version,
                                    " ".join(FLAGS),
                                    platform.machine(), _cpu_flags()]).encode()).hexdigest()
    target = _cache_dir() / f"tree_kernel-{key[:20]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # built beside its final name and renamed: a concurrent process sees all of it or none
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        built = Path(tmp) / target.name
        subprocess.run([*compiler, *FLAGS, "-o", str(built), *map(str, SOURCES), "-lm"],
                       capture_output=True, text=True, check=True, timeout=300)
        os.replace(built, target)
    return target


@functools.cache
def load() -> Kernel | None:
    """The kernel for this machine, or None (then torch's kernels are used); decided once per
    process, a failed build included."""
    if os.environ.get("SLICK_TREE_KERNEL", "1") == "0":
        return None
    compiler = shlex.split(os.environ.get("CC", "")) or [
        found for found in (shutil.which("cc") or shutil.which("gcc"),) if found]
    if not compiler:
        log.info("no C compiler: tree attention uses torch's kernels")
        return None
    try:
        library = ctypes.CDLL(str(_build(compiler)))
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", "") or error
        log.warning("tree attention kernel not built (%s); using torch's kernels", detail)
        return None
    if not library.tree_kernel_vector():
        log.info("no AVX-512 here: tree attention uses torch's kernels")
        return None
    return Kernel(library)


class Kernel:
    """The built library's steps for bf16 and fp32 models: `attend` and `store` (head sizes
    64 and 128), and a layer's `add_norm`, `rotary_` and `silu_mul`."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self.functions = {(dtype, dim): getattr(library, f"tree_attend_{name}_{dim}")
                          for dtype, name in ((torch.bfloat16, "bf16"), (torch.float32, "f32"))
                          for dim in (64, 128)}
        for function in self.functions.values():
            function.restype = ctypes.c_int
            function.argtypes = [_PTR, _INT, _INT, _PTR, _PTR, _INT, _INT, _PTR, _INT, _INT,
                                 _INT, _PTR, _PTR, _PTR, _PTR, _INT, _PTR, _INT, _PTR, _PTR,
                                 _INT, _INT, _INT, _INT, ctypes.c_float, ctypes.c_int]
        self._store = library.tree_store
        self._store.restype = ctypes.c_int
        self._store.argtypes = [_PTR, _PTR, _INT, _INT, _INT, _PTR, _PTR, _INT, _INT, _PTR,
                                _PTR, _INT, _INT, _INT, _INT]

        self._steps = {}  # per dtype: add_norm, rotary_, silu_mul
        for dtype, name in ((torch.bfloat16, "bf16"), (torch.float32, "f32")):
            norm = getattr(library, f"tree_add_norm_{name}")
            norm.restype = None
            norm.argtypes = [_PTR, _PTR, _PTR, _PTR, _INT, _INT, ctypes.c_float, ctypes.c_int]
            rotary = getattr(library, f"tree_rotary_{name}")
            rotary.restype = None
            rotary.argtypes = [_PTR, _INT, _PTR, _PTR, _INT, _INT, _INT, ctypes.c_int]
            silu_mul = getattr(library, f"tree_silu_mul_{name}")
            silu_mul.restype = None
            silu_mul.argtypes = [_PTR, _PTR, _INT, _PTR, _INT, _INT, ctypes.c_int]
            self._steps[dtype] = (norm, rotary, silu_mul)

    def add_norm(self, hidden: torch.Tensor, delta: torch.Tensor | None, weight: torch.Tensor,
                 eps: float) -> torch.Tensor:
        """`hidden += delta` in place (when given), then LlamaRMSNorm(hidden) with `weight`."""
        n, size = hidden.shape
        _check_rows(hidden.dtype, hidden, weight, *(() if delta is None else (delta,)))
        if (delta is not None and delta.shape != hidden.shape) or weight.shape != (size,):
            raise ValueError("tree kernel: delta, weight and hidden differ in shape")
        out = torch.empty_like(hidden)
        self._steps[hidden.dtype][0](
            hidden.data_ptr(), None if delta is None else delta.data_ptr(), weight.data_ptr(),
            out.data_ptr(), n, size, eps, torch.get_num_threads())
        return out

    def rotary_(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """`tree_ops.rotary` in place: x [n, heads, dim] (rows of any stride), cos and sin
        [n, dim] of x's dtype."""
        n, heads, dim = x.shape
        if (x.stride(2) != 1 or x.stride(1) != dim or dim % 2 or cos.shape != (n, dim)
                or sin.shape != (n, dim)):
            raise ValueError("tree kernel: unexpected layout")
        _check_rows(x.dtype, cos, sin)
        self._steps[x.dtype][1](x.data_ptr(), x.stride(0), cos.data_ptr(), sin.data_ptr(),
                                     n, heads, dim, torch.get_num_threads())
        return x

    def silu_mul(self, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        """SiLU(gate) * up, gate and up [n, width] views with one row stride."""
        n, width = gate.shape
        if (up.shape != gate.shape or gate.stride(1) != 1 or up.stride(1) != 1
                or up.stride(0) != gate.stride(0) or up.dtype != gate.dtype
                or gate.dtype not in self._steps):
            raise ValueError("tree kernel: unexpected layout")
        out = torch.empty((n, width), dtype=gate.dtype)
        self._steps[gate.dtype][2](gate.data_ptr(), up.data_ptr(), gate.stride(0),
                                        out.data_ptr(), n, width, torch.get_num_threads())
        return out

    def handles(self, dtype: torch.dtype, heads: int, kv_heads: int, dim: int) -> bool:
        return ((dtype, dim) in self.functions and heads % kv_heads == 0
                and heads // kv_heads <= 16)

    def store(self, k: torch.Tensor, v: torch.Tensor, own_k: torch.Tensor, own_v: torch.Tensor,
              rows: torch.Tensor, slots: torch.Tensor) -> None:
        """own_k[rows[i], :, slots[i]] = k[i] (and v alike), k and v [n, kv heads, dim] with
        rows of any stride: what an indexed assignment does, without its cost."""
        n, kv_heads, dim = k.shape
        if n == 0:
            return
        if (k.stride(2) != 1 or v.stride(2) != 1 or k.stride(1) != dim or v.stride(1) != dim
                or v.shape != k.shape or own_v.shape != own_k.shape
                or own_k.shape[1] != kv_heads or own_k.shape[3] != dim
                or len(rows) != n or len(slots) != n
                or own_k.dtype != k.dtype or own_v.dtype != v.dtype
                or not own_k.is_contiguous() or not own_v.is_contiguous()
                or rows.dtype != torch.long or slots.dtype != torch.long):
            raise ValueError("tree kernel: unexpected layout")
        rows, slots = rows.contiguous(), slots.contiguous()
        if self._store(k.data_ptr(), v.data_ptr(), k.stride(0), v.stride(0), dim,
                       own_k.data_ptr(), own_v.data_ptr(), own_k.shape[0], own_k.shape[2],
                       rows.data_ptr(), slots.data_ptr(), n, kv_heads, dim, k.element_size()):
            raise IndexError("tree kernel: a row or slot outside the own caches")

    def attend(self, q: torch.Tensor, own_k: torch.Tensor, own_v: torch.Tensor,
               bias: torch.Tensor, length: int, rows: torch.Tensor, cols: torch.Tensor,
               grid_k: torch.Tensor | None, grid_v: torch.Tensor | None,
               grid_lengths: torch.Tensor | None, prefixes: torch.Tensor | None,
               scale: float) -> torch.Tensor:
        """Attention of `q` ([n, heads, dim]; token i of row `rows[i]`, query column
        `cols[i]`) to the first `length` own slots of its row (`own_k`, `own_v`: [rows,
        kv heads, capacity, dim]) that `bias[row, col]` (fp32, 0 or -inf) allows, and to the
        first `grid_lengths[c]` keys of its prefix c = `prefixes[i]` in the grid ([prefixes,
        kv heads, capacity, dim]); [n, heads, dim] in q's dtype."""
        n, heads, dim = q.shape
        kv_heads = own_k.shape[1]
        out = torch.empty((n, heads, dim), dtype=q.dtype)
        if n == 0:
            return out
        for tensor in (own_k, own_v, bias, rows, cols, *(t for t in (grid_k, grid_v)
                                                         if t is not None)):
            if not tensor.is_contiguous():
                raise ValueError("tree kernel: inputs must be contiguous")
        if (q.stride(2) != 1 or bias.dtype != torch.float32
                or any(t.dtype != torch.long or len(t) != n for t in (rows, cols))
                or own_v.shape != own_k.shape or bias.shape[0] != own_k.shape[0]
                or own_k.shape[3] != dim or heads % kv_heads
                or own_k.dtype != q.dtype or own_v.dtype != q.dtype
                or (grid_k is not None and (grid_v.shape != grid_k.shape
                                            or grid_k.shape[1] != kv_heads
                                            or grid_k.shape[3] != dim
                                            or prefixes.dtype != torch.long
                                            or grid_lengths.dtype != torch.long
                                            or len(prefixes) != n
                                            or grid_k.dtype != q.dtype or grid_v.dtype != q.dtype
                                            or len(grid_lengths) != grid_k.shape[0]))):
            raise ValueError("tree kernel: unexpected layout")
        has_grid = grid_k is not None
        if has_grid:
            grid_lengths = grid_lengths.contiguous()
            prefixes = prefixes.contiguous()
        status = self.functions[q.dtype, dim](
            q.data_ptr(), q.stride(0), q.stride(1), own_k.data_ptr(), own_v.data_ptr(),
            own_k.shape[0], own_k.shape[2], bias.data_ptr(), bias.shape[1], bias.shape[2],
            length,
            rows.data_ptr(), cols.data_ptr(),
            grid_k.data_ptr() if has_grid else None, grid_v.data_ptr() if has_grid else None,
            grid_k.shape[2] if has_grid else 0,
            grid_lengths.data_ptr() if has_grid else None, grid_k.shape[0] if has_grid else 0,
            prefixes.data_ptr() if has_grid else None,
            out.data_ptr(), n, heads, kv_heads, dim, scale, torch.get_num_threads())
        if status == 1:
            raise ValueError("tree kernel: unsupported head layout")
        if status == 3:
            raise IndexError("tree kernel: a row, column, prefix or length out of range")
        if status:
            raise MemoryError("tree kernel: could not allocate its scratch")
        return out


def _check_rows(dtype: torch.dtype, *tensors: torch.Tensor) -> None:
    if any(t.dtype != dtype or not t.is_contiguous() for t in tensors):
        raise ValueError("tree kernel: unexpected dtype or layout")
