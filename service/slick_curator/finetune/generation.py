"""Greedy answers from the model being trained, through the transformers engine's decoder.

`LoadedEngine` is the `TransformersEngine` around a model already in memory (the one being
fine-tuned, adapters and all), so evaluation decodes exactly as probing does: same
tokenisation, same prefix-sharing decoder, greedy, stopping at a newline or EOS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from slick_curator.engines.base import GenerationRequest, SamplingParams
from slick_curator.engines.hf_decoding import PrefixDecoder
from slick_curator.engines.transformers_engine import TransformersEngine

__all__ = ["LoadedEngine", "greedy_answers"]

_CHUNK = 64  # prompts per engine call: the cancel flag is checked between calls


class LoadedEngine(TransformersEngine):
    """A TransformersEngine over a loaded model and tokenizer (nothing is read from disk)."""

    def __init__(self, model: Any, tokenizer: Any, *, max_sequences: int = 256) -> None:
        # Deliberately not calling super().__init__, which loads weights from a path.
        self.model_name = str(getattr(model, "name_or_path", "fine-tuned"))
        self.device = str(next(model.parameters()).device)
        self.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        self.seed = 0
        self.tokenizer = tokenizer
        self.model = model
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.decoder = PrefixDecoder(model, tokenizer, eos_ids, max_sequences)
        # The model under training may be wrapped (PEFT adapters): decode through its own
        # forward, not the tree decoder's layer-by-layer pass.
        self.tree = None

    def close(self) -> None:  # the model belongs to the trainer
        self.decoder = None  # type: ignore[assignment]


def greedy_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    add_special_tokens: bool = True,
    check: Callable[[], None] = lambda: None,
) -> list[str]:
    """The greedy answer to every prompt (stripped), the model in eval mode meanwhile.

    `add_special_tokens` False for chat-rendered prompts, which hold their BOS already."""
    was_training = model.training
    model.eval()
    engine = LoadedEngine(model, tokenizer)
    params = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens, stop=("\n",))
    answers: list[str] = []
    try:
        with torch.no_grad():
            for start in range(0, len(prompts), _CHUNK):
                check()
                requests = [GenerationRequest(p, params, add_special_tokens=add_special_tokens)
                            for p in prompts[start:start + _CHUNK]]
                answers += [r.texts[0].strip() for r in engine.generate(requests)]
    finally:
        engine.close()
        model.train(was_training)
    return answers
