"""Fast mode for the transformers engine: teacher-forced passes instead of sampling.

`ContinuationScorer.score` teacher-forces gold continuations after a prompt (a short answer's
aliases); `score_spans` teacher-forces a whole free-form answer once and scores every fact
span in it. Both report, per continuation or span, whether greedy decoding reproduces its
tokens and the probability that one sample (temperature, top-k) does. Prompts share prefills
exactly as in decoding (`PrefixDecoder.prefill`: cluster prefixes, KV branches).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from slick_curator.engines.hf_branches import cluster_by_prefix
from slick_curator.engines.hf_decoding import PrefixDecoder


@dataclass(frozen=True)
class SpanItem:
    """A teacher-forced sequence and the token spans [a, b) scored in it (a >= 1)."""

    tokens: list[int]
    spans: list[tuple[int, int]]


class ContinuationScorer:
    """Fast mode: one forward pass over prompt + gold text, no sampling."""

    def __init__(self, decoder: PrefixDecoder, max_rows: int = 32) -> None:
        self.decoder = decoder
        self.max_rows = max_rows
        self._end_ids: torch.Tensor | None = None
        self._end_stop: str | None = None

    def end_ids(self, stop: str) -> torch.Tensor:
        """Token ids that end an answer: EOS, and tokens whose text starts with `stop`."""
        if self._end_ids is None or self._end_stop != stop:
            tokenizer = self.decoder.tokenizer
            ids = [i for i in range(len(tokenizer))
                   if tokenizer.decode([i], clean_up_tokenization_spaces=False).startswith(stop)]
            ids += sorted(self.decoder.eos_ids)
            self._end_ids = torch.tensor(sorted(set(ids)), device=self.decoder.device)
            self._end_stop = stop
        return self._end_ids

    @torch.inference_mode()
    def score(self, items, *, temperature: float, top_k: int, stop: str, ends: bool = True):
        """items: (prompt tokens, continuation tokens) pairs -> (greedy, probability) each.

        Each continuation is followed by an end of answer (`end_ids`); `ends` False: the
        continuation's tokens alone.
        """
        end = self.end_ids(stop) if ends else None
        # Logits only where they are judged: the positions predicting each continuation
        # token, then the end of the answer (the LM head is ~20% of a forward pass).
        spans = [SpanItem(p + c, [(len(p), len(p) + len(c))]) for p, c in items]
        judged = self._forward(spans, extra=1)
        return [self._judge(rows, tokens, end, temperature, top_k)
                for ((rows, tokens),) in judged]

    @torch.inference_mode()
    def score_spans(self, items: Sequence[SpanItem], *, temperature: float, top_k: int):
        """Every span of every item -> (greedy, probability) lists, one forward per item.

        A span is judged given every token before it, and with no end-of-answer term: the
        answer goes on after a fact.
        """
        return [[self._judge(rows, tokens, None, temperature, top_k) for rows, tokens in spans]
                for spans in self._forward(items, extra=0)]

    def _forward(self, items: Sequence[SpanItem], extra: int):
        """Per item, per span: (logits predicting the span's tokens plus `extra` positions
        after it, the span's tokens). The input stops where no more logits are needed."""
        for item in items:
            if not item.spans or any(a < 1 or b - a + extra < 1 or b > len(item.tokens)
                                     for a, b in item.spans):
                raise ValueError(f"bad token spans {item.spans} of {len(item.tokens)} tokens")
        # logits at position p predict token p + 1: an input of tokens[:last] suffices
        inputs = [item.tokens[: max(b for _, b in item.spans) - 1 + extra] for item in items]
        first = [min(a for a, _ in item.spans) - 1 for item in items]
        out: list[list | None] = [None] * len(items)
        for prefix_len, members in cluster_by_prefix(inputs, limits=first):
            root = self.decoder.prefill_prefix(inputs[members[0]][:prefix_len], len(members))
            for start in range(0, len(members), self.max_rows):
                chunk = members[start : start + self.max_rows]
                keep = max(len(inputs[i]) - first[i] for i in chunk)
                logits = self.decoder.prefill(
                    root, [inputs[i][prefix_len:] for i in chunk], keep=keep,
                    limits=[first[i] - prefix_len for i in chunk],
                ).logits
                for r, i in enumerate(chunk):
                    shift = keep - len(inputs[i])  # kept row q holds input position q - shift
                    out[i] = [
                        (logits[r, a - 1 + shift : b - 1 + shift + extra, :].float(),
                         items[i].tokens[a:b])
                        for a, b in items[i].spans
                    ]
        return out

    @staticmethod
    def _judge(logits, tokens, end, temperature, top_k) -> tuple[bool, float]:
        """logits: one row per token of `tokens`, then one for the end when `end` is given."""
        n = len(tokens)
        target = torch.tensor(tokens, device=logits.device)
        greedy_tokens = logits.argmax(dim=-1)
        greedy = bool((greedy_tokens[:n] == target).all()) and (
            end is None or bool(torch.isin(greedy_tokens[n:], end).all())
        )
        scores = logits / temperature
        if top_k and top_k < scores.shape[-1]:
            kth = torch.topk(scores, top_k, dim=-1).values[:, -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        logp = torch.log_softmax(scores, dim=-1)
        total = logp[:n].gather(1, target[:, None]).sum()
        if end is not None:
            total = total + torch.logsumexp(logp[n, end], dim=0)
        return greedy, float(torch.exp(total))
