"""The model side of training: load, add LoRA adapters or pick the trained weights, snapshot
and restore the trained weights (checkpoints), and measure how far they moved.

Imports torch, transformers and peft; only the training process imports this module.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from slick_curator.finetune.config import FinetuneParams, module_names

__all__ = ["TrainableModel", "load_model"]


def load_model(path: str, device: str | None = None) -> tuple[Any, Any, str]:
    """(model, tokenizer, device) in float32 (bfloat16 on a GPU), in train mode."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    model.to(device)
    return model, tokenizer, device


class TrainableModel:
    """A loaded model prepared for `params`: LoRA adapters on the target modules, or full
    fine-tuning of the target modules' weights (`trainable="all"` trains every weight).

    `reference()` gives the frozen base model's logits for the KL regulariser: the adapters
    switched off for LoRA, a frozen copy for full fine-tuning (kept only when kl_weight > 0).
    """

    def __init__(self, model: Any, params: FinetuneParams) -> None:
        self.params = params
        targets = module_names(params)
        present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        missing = [t for t in targets if t not in present]
        if missing:
            linear = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules()
                             if isinstance(m, torch.nn.Linear)})
            raise ValueError(f"the model has no module named {', '.join(missing)}; its linear "
                             f"modules are: {', '.join(linear)} (set lora_targets)")
        self._frozen_copy = None
        if params.method == "lora":
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(r=params.lora_r, lora_alpha=params.lora_alpha,
                                lora_dropout=params.lora_dropout, target_modules=list(targets),
                                bias="none", task_type="CAUSAL_LM")
            self.model = get_peft_model(model, config)
        else:
            if params.kl_weight > 0:
                self._frozen_copy = copy.deepcopy(model).eval()
                for p in self._frozen_copy.parameters():
                    p.requires_grad_(False)
            train_all = params.trainable == "all" and not params.lora_targets
            for name, p in model.named_parameters():
                p.requires_grad_(train_all or _in_modules(name, targets))
            self.model = model
        self.initial = self.snapshot()

    @property
    def trained(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    def snapshot(self) -> dict[str, torch.Tensor]:
        """A copy of the trained weights (on the CPU): a checkpoint."""
        return {n: p.detach().to("cpu", copy=True) for n, p in self.trained}

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, p in self.trained:
                p.copy_(state[name].to(p.device))

    def weight_change(self, state: dict[str, torch.Tensor] | None = None) -> float:
        """L2 norm of (weights now, or `state`) minus the weights before training."""
        now = state or self.snapshot()
        total = sum(float(((now[n].float() - w.float()) ** 2).sum()) for n, w in self.initial.items())
        return total ** 0.5

    @contextlib.contextmanager
    def reference(self) -> Iterator[Any]:
        """The base model (for KL): adapters disabled, or the frozen copy."""
        if self._frozen_copy is not None:
            yield self._frozen_copy
        elif self.params.method == "lora":
            with self.model.disable_adapter():
                yield self.model
        else:  # pragma: no cover - kl_weight 0 never asks
            raise RuntimeError("no reference model kept (kl_weight is 0)")

    def save(self, folder: str, state: dict[str, torch.Tensor], tokenizer: Any) -> None:
        """Write the weights in `state`: the adapter (LoRA) or the whole model (full)."""
        current = self.snapshot()
        self.restore(state)
        try:
            self.model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
        finally:
            self.restore(current)


def _in_modules(parameter: str, modules: tuple[str, ...]) -> bool:
    parts = parameter.split(".")
    return any(m in parts for m in modules)
