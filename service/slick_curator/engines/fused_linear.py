"""Linear layers that share an input, computed as one matrix product.

On a CPU with native bf16 (AVX-512 BF16 / AMX), `F.linear` on bf16 weights re-lays the weight
out for oneDNN on every call; a weight packed once (`mkldnn._reorder_linear_weight`) is read as
it is, 1.3-2x faster at the batch sizes of decoding (measured 2026-12-06, SmolLM2-135M shapes).
q, k and v (and gate and up) read one input: fused, a decode step reads the input once and
makes one call instead of three. Elsewhere (fp32, or a CPU without native bf16) the modules
are called as they are: no second copy of the weights, the products transformers computes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

__all__ = ["FusedLinear", "packs"]


def packs(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether weights of `dtype` on `device` are packed for oneDNN."""
    return (dtype == torch.bfloat16 and device.type == "cpu"
            and torch.backends.mkldnn.is_available()
            and torch.ops.mkldnn._is_mkldnn_bf16_supported())


class FusedLinear:
    """`modules` (bias-free `nn.Linear`s of one input) as one product; `__call__` returns
    their outputs in order, those of consecutive modules joined where `joins` says how many
    each output holds (q and k joined: one rotary embedding for both)."""

    def __init__(self, modules: Sequence[torch.nn.Linear],
                 joins: Sequence[int] | None = None) -> None:
        if any(m.bias is not None for m in modules):
            raise ValueError("FusedLinear takes linear layers without bias")
        self.modules = list(modules)
        joins = list(joins) if joins is not None else [1] * len(modules)
        if sum(joins) != len(self.modules) or any(count < 1 for count in joins):
            raise ValueError("joins must cover the modules, one or more each")
        ends = itertools.accumulate(joins)
        self.groups = [self.modules[end - count:end]
                       for count, end in zip(joins, ends, strict=True)]
        self.sizes = [sum(m.out_features for m in group) for group in self.groups]
        weight = modules[0].weight
        self.packed = None
        if packs(weight.dtype, weight.device):
            fused = torch.cat([m.weight.detach() for m in modules])
            self.packed = torch.ops.mkldnn._reorder_linear_weight(fused, None)

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.packed is None:
            return [group[0](x) if len(group) == 1 else torch.cat([m(x) for m in group], -1)
                    for group in self.groups]
        out = torch.ops.mkldnn._linear_pointwise(x, self.packed, None, "none", [], "")
        return list(out.split(self.sizes, -1)) if len(self.sizes) > 1 else [out]
