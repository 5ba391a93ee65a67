"""The tokens that would end an answer if generated first: EOS, those that write a stop string,
and whitespace alone (the model writes " " and then ends the line).

`GenerationRequest.continues` asks an engine not to end the answer at its first token; the
transformers engine masks these tokens at that step, vLLM through `min_tokens` and
`stop_token_ids` (where a whitespace-only token later in the answer then ends it too: rare in
prose, and after the fact is read it changes no verdict).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def ending_token_ids(tokenizer: Any, stops: Iterable[str], eos_ids: Iterable[int]) -> list[int]:
    """EOS, every token whose text holds a stop string or is only whitespace, sorted."""
    stops = tuple(stops)
    vocab = range(len(tokenizer))
    texts = tokenizer.batch_decode([[t] for t in vocab])
    ending = {t for t, text in zip(vocab, texts, strict=True)
              if not text.strip() or any(s in text for s in stops)}
    return sorted(ending | set(eos_ids))


class EndingTokens:
    """`ending_token_ids` of one tokenizer, the vocabulary read once per set of stops."""

    def __init__(self, tokenizer: Any, eos_ids: Iterable[int]) -> None:
        self.tokenizer = tokenizer
        self.eos_ids = tuple(eos_ids)
        self._by_stops: dict[tuple[str, ...], list[int]] = {}

    def __call__(self, stops: Iterable[str]) -> list[int]:
        stops = tuple(stops)
        if stops not in self._by_stops:
            self._by_stops[stops] = ending_token_ids(self.tokenizer, stops, self.eos_ids)
        return self._by_stops[stops]
