"""Fine-tune settings. The wire schema (`FinetuneParams`) is defined once with the other wire
schemas in slick_client.schemas; this module adds what only the trainer needs to know."""

from __future__ import annotations

from slick_client.schemas import (
    CHECKPOINTS,
    FINETUNE_VARIANTS,
    FinetuneCreate,
    FinetuneParams,
    FinetuneVariant,
)

__all__ = [
    "CHECKPOINTS",
    "FINETUNE_VARIANTS",
    "MODULE_GROUPS",
    "FinetuneCreate",
    "FinetuneParams",
    "FinetuneVariant",
    "abstention_phrases",
    "module_names",
]

# Linear layers per trainable group, by their names in Llama-style models (SmolLM2, Llama,
# Mistral, Qwen). Other architectures name theirs in `lora_targets`.
MODULE_GROUPS: dict[str, tuple[str, ...]] = {
    "attention": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "mlp": ("gate_proj", "up_proj", "down_proj"),
}
MODULE_GROUPS["all"] = MODULE_GROUPS["attention"] + MODULE_GROUPS["mlp"]


def module_names(params: FinetuneParams) -> tuple[str, ...]:
    """The module names LoRA adapts, or whose weights full fine-tuning trains (`trainable`)."""
    if params.lora_targets:
        return tuple(params.lora_targets)
    return MODULE_GROUPS[params.trainable]


def abstention_phrases(params: FinetuneParams) -> tuple[str, ...]:
    """Answers that count as abstaining: the relabel phrase, then any configured extras."""
    return tuple(dict.fromkeys((params.abstention, *params.abstention_phrases)))
