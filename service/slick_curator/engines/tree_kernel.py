"""Tree attention's attention step as one C function (`tree_kernel.c`), built on first use.

A pass of `tree_attention` attends each real token to its prefix's keys and to the own slots
its bias row allows. Through torch that is two fused-kernel calls on padded blocks, scatters
and gathers around them, and a merge; the kernel reads each token's keys where they lie
(no padding, no copies) and computes one softmax over both sets. Built with the system's C
compiler for this CPU (`-march=native`, OpenMP: torch's own runtime once torch is loaded)
into a cache directory keyed by the source, the compiler and the CPU; where no compiler, no
AVX-512 or `SLICK_TREE_KERNEL=0`, `load()` is None and torch's kernels are used.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

__all__ = ["Kernel", "load"]

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("tree_kernel.c")
FLAGS = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=c11"]
_INT = ctypes.c_int64
_PTR = ctypes.c_void_p


def _cache_dir() -> Path:
    root = os.environ.get("SLICK_KERNEL_CACHE") or os.environ.get("XDG_CACHE_HOME")
    base = Path(root) if root else Path.home() / ".cache"
    return (base if os.environ.get("SLICK_KERNEL_CACHE") else base / "slick-curator" / "kernels")


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor()


def _build(compiler: str) -> Path:
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                             check=True).stdout
    key = hashlib.sha256("\0".join([SOURCE.read_text(), version, " ".join(FLAGS),
                                    platform.machine(), _cpu_flags()]).encode()).hexdigest()
    target = _cache_dir() / f"tree_kernel-{key[:20]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # built beside its final name and renamed: a concurrent process sees all of it or none
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        built = Path(tmp) / target.name
        subprocess.run([compiler, *FLAGS, "-o", str(built), str(SOURCE), "-lm"],
                       capture_output=True, text=True, check=True)
        os.replace(built, target)
    return target


@functools.cache
def load() -> Kernel | None:
    """The kernel for this machine, or None (then torch's kernels are used)."""
    if os.environ.get("SLICK_TREE_KERNEL", "1") == "0":
        return None
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        log.info("no C compiler: tree attention uses torch's kernels")
        return None
    try:
        library = ctypes.CDLL(str(_build(compiler)))
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or error
        log.warning("tree attention kernel not built (%s); using torch's kernels", detail)
        return None
    if not library.tree_kernel_vector():
        log.info("no AVX-512 here: tree attention uses torch's kernels")
        return None
    return Kernel(library)


class Kernel:
    """`attend` for bf16 and fp32 models."""

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
        if (q.stride(2) != 1 or bias.dtype != torch.float32 or rows.dtype != torch.long
                or own_v.shape != own_k.shape or bias.shape[0] != own_k.shape[0]
                or own_k.dtype != q.dtype or own_v.dtype != q.dtype
                or (grid_k is not None and (grid_v.shape != grid_k.shape
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
