"""`FusedLinear`: linear layers of one input as one product, packed for oneDNN in bf16."""

from __future__ import annotations

import pytest
import torch
from slick_curator.engines.fused_linear import FusedLinear, packs


def layers(dtype: torch.dtype) -> list[torch.nn.Linear]:
    torch.manual_seed(0)
    return [torch.nn.Linear(64, n, bias=False).to(dtype) for n in (64, 32, 32)]


def test_fp32_calls_the_modules_as_they_are():
    modules = layers(torch.float32)
    fused = FusedLinear(modules)
    x = torch.randn(5, 64)
    assert fused.packed is None  # no second copy of fp32 weights
    for got, module in zip(fused(x), modules, strict=True):
        assert torch.equal(got, module(x))


def test_bf16_gives_each_layers_output():
    modules = layers(torch.bfloat16)
    fused = FusedLinear(modules)
    assert (fused.packed is not None) == packs(torch.bfloat16, torch.device("cpu"))
    x = torch.randn(7, 64).to(torch.bfloat16)
    outputs = fused(x)
    assert [o.shape for o in outputs] == [(7, 64), (7, 32), (7, 32)]
    for got, module in zip(outputs, modules, strict=True):
        # one rounding to bf16 apart at most: the products accumulate in fp32 either way
        torch.testing.assert_close(got.float(), module(x).float(), rtol=1e-2, atol=1e-2)


def test_layers_with_bias_are_refused():
    with pytest.raises(ValueError, match="without bias"):
        FusedLinear([torch.nn.Linear(4, 4)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_joined_outputs_are_the_modules_outputs_side_by_side(dtype):
    modules = layers(dtype)
    fused, apart = FusedLinear(modules, joins=[2, 1]), FusedLinear(modules)
    x = torch.randn(6, 64).to(dtype)
    joined, last = fused(x)
    first, second, third = apart(x)
    assert joined.shape == (6, 96)
    assert torch.equal(joined, torch.cat([first, second], -1))
    assert torch.equal(last, third)


def test_joins_must_cover_the_modules():
    for joins in ([2], [], [3, 0]):
        with pytest.raises(ValueError, match="cover"):
            FusedLinear(layers(torch.float32), joins=joins)
