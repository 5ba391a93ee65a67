"""A decoding loop for the transformers engine that computes as few tokens as possible.

`generate` already wastes little on big GPUs; on a CPU every token costs. So:
- prompts are clustered by shared token prefix (a group's few-shot exemplars) and each
  prefix is prefilled once, then copied to the rows that share it;
- each prompt's own tokens are prefilled once, then the cache is expanded to the n samples;
- a sequence leaves the batch the step it finishes: stop string, EOS, token limit, or the
  request's `hopeless` hint saying its text can no longer be a correct answer.
Every sample draws its tokens from its own random stream (`streams`), so dropping a sequence
from the batch never changes what the others draw.
Suffixes of different lengths are padded *between* prefix and suffix; the attention mask
hides the padding and explicit position ids keep every token at its true position, so each
sequence computes what it would compute alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from slick_curator.engines.streams import key_tensor, sample_tokens, sample_words

MIN_SHARED_PREFIX = 8


@dataclass
class Sequence_:
    """One sample being decoded."""

    request: int
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    pruned: bool = False
    done: bool = False


@dataclass
class DecodeStats:
    """Tokens the model actually computed (the cost that matters on CPU)."""

    prefill_tokens: int = 0
    decode_tokens: int = 0
    forward_calls: int = 0


def cluster_by_prefix(
    token_lists: Sequence[list[int]],
    min_prefix: int = MIN_SHARED_PREFIX,
    limits: Sequence[int] | None = None,
):
    """Groups of prompt indices that share a token prefix, with that prefix's length.

    Sorting puts prompts with long common prefixes next to each other; a cluster grows while
    the shared prefix stays at least `min_prefix` tokens. A prefix never covers more than
    `limits[i]` tokens of item i (default: all but the last token, whose logits are needed).
    """
    limits = limits or [len(t) - 1 for t in token_lists]
    order = sorted(range(len(token_lists)), key=lambda i: token_lists[i])
    clusters: list[tuple[int, list[int]]] = []
    for i in order:
        tokens = token_lists[i]
        if clusters:
            shared, members = clusters[-1]
            head = token_lists[members[0]]
            common = 0
            limit = min(shared, limits[i])
            while common < limit and head[common] == tokens[common]:
                common += 1
            if common >= min_prefix:
                clusters[-1] = (common, members + [i])
                continue
        clusters.append((limits[i], [i]))
    return clusters


class PrefixDecoder:
    """Runs the loop for one model and tokenizer; see the module docstring."""

    def __init__(self, model, tokenizer, eos_ids: set[int], max_sequences: int = 256) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.max_sequences = max_sequences
        self.stats = DecodeStats()
        self.device = next(model.parameters()).device

    @torch.inference_mode()
    def decode(
        self,
        token_lists: Sequence[list[int]],
        *,
        n: int,
        greedy: bool,
        temperature: float,
        top_k: int,
        max_new_tokens: int,
        stops: Sequence[str],
        hopeless: Sequence[Callable[[str], bool] | None],
        stream_keys: Sequence[int] | None = None,
        settled: Sequence[Callable[[str], bool] | None] | None = None,
    ) -> list[list[Sequence_]]:
        """The n decoded sequences of every prompt, in prompt order.

        Sample j of prompt i draws from the stream (stream_keys[i], j) (see `streams`), so it
        does not depend on which other prompts are decoded with it.
        """
        if not greedy and stream_keys is None:
            raise ValueError("sampling needs a stream key per prompt")
        out: list[list[Sequence_]] = [[] for _ in token_lists]
        hints = [
            (hopeless[i], settled[i] if settled is not None else None)
            for i in range(len(token_lists))
        ]
        for prefix_len, members in cluster_by_prefix(token_lists):
            prefix = token_lists[members[0]][:prefix_len]
            prefix_cache = self._prefill_prefix(prefix)
            rows_per_chunk = max(1, self.max_sequences // n)
            for start in range(0, len(members), rows_per_chunk):
                chunk = members[start : start + rows_per_chunk]
                suffixes = [token_lists[i][prefix_len:] for i in chunk]
                sequences = self._decode_chunk(
                    prefix_cache, prefix_len, suffixes, chunk, n, greedy, temperature, top_k,
                    max_new_tokens, stops, hints, stream_keys,
                )
                for seq in sequences:
                    out[seq.request].append(seq)
        return out

    def _prefill_prefix(self, prefix: list[int]):
        if not prefix:
            return None
        cache = DynamicCache()
        ids = torch.tensor([prefix], device=self.device)
        # Only the KV cache is wanted: the LM head over every prefix position would cost about
        # a fifth of the prefill (vocab 49k x hidden), so keep the minimum of one position.
        self.model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        self.stats.prefill_tokens += len(prefix)
        self.stats.forward_calls += 1
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _prefill_chunk(self, prefix_kv, prefix_len, suffixes, last: int | None = None):
        """Prefill the suffixes after a shared prefix; returns (cache, mask, logits).

        logits are [rows, vocab] for the last position, or [rows, last, vocab] for the
        `last` positions (suffixes are left-padded, so every row ends at the right edge).
        """
        rows = len(suffixes)
        width = max(len(s) for s in suffixes)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((rows, width), pad, dtype=torch.long)
        mask = torch.zeros((rows, prefix_len + width), dtype=torch.long)
        mask[:, :prefix_len] = 1
        positions = torch.full((rows, width), prefix_len, dtype=torch.long)
        for r, suffix in enumerate(suffixes):
            offset = width - len(suffix)
            ids[r, offset:] = torch.tensor(suffix)
            mask[r, prefix_len + offset :] = 1
            positions[r, offset:] = torch.arange(prefix_len, prefix_len + len(suffix))
        cache = DynamicCache()
        if prefix_kv is not None:
            for layer, (k, v) in enumerate(prefix_kv):
                cache.update(k.expand(rows, -1, -1, -1).contiguous(),
                             v.expand(rows, -1, -1, -1).contiguous(), layer)
        ids, mask, positions = (t.to(self.device) for t in (ids, mask, positions))
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                            past_key_values=cache, use_cache=True,
                            logits_to_keep=last or 1).logits
        self.stats.prefill_tokens += sum(len(s) for s in suffixes)
        self.stats.forward_calls += 1
        return cache, mask, (logits if last else logits[:, -1, :])

    def _decode_chunk(self, prefix_kv, prefix_len, suffixes, requests, n, greedy, temperature,
                      top_k, max_new_tokens, stops, hints, stream_keys) -> list[Sequence_]:
        rows = len(suffixes)
        cache, mask, logits = self._prefill_chunk(prefix_kv, prefix_len, suffixes)

        if n > 1:  # expand after the prefill: the samples share it
            cache.batch_repeat_interleave(n)
            mask = mask.repeat_interleave(n, dim=0)
            logits = logits.repeat_interleave(n, dim=0)
        next_pos = torch.tensor(
            [prefix_len + len(s) for s in suffixes], device=self.device
        ).repeat_interleave(n)
        sequences = [Sequence_(request=requests[r]) for r in range(rows) for _ in range(n)]
        keys = None if greedy else key_tensor(
            (sample_words(stream_keys[requests[r]], j) for r in range(rows) for j in range(n)),
            self.device)
        active = list(range(len(sequences)))
        for step in range(max_new_tokens):
            if greedy:
                chosen = logits.argmax(dim=-1).tolist()
            else:
                chosen = sample_tokens(logits, keys, step, temperature, top_k).tolist()
            still = []
            for slot, token in zip(active, chosen, strict=True):
                seq = sequences[slot]
                self._advance(seq, token, stops, *hints[seq.request])
                if not seq.done:
                    still.append((slot, token))
            if not still or step == max_new_tokens - 1:
                break
            keep = [i for i, slot in enumerate(active) if not sequences[slot].done]
            if len(keep) < len(active):
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                mask, next_pos = mask[index], next_pos[index]
                if keys is not None:
                    keys = keys[index]
            active = [slot for slot, _ in still]
            tokens = torch.tensor([[t] for _, t in still], device=self.device)
            mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=self.device)], 1)
            logits = self.model(input_ids=tokens, attention_mask=mask,
                                position_ids=next_pos[:, None], past_key_values=cache,
                                use_cache=True).logits[:, -1, :]
            next_pos = next_pos + 1
            self.stats.decode_tokens += len(active)
            self.stats.forward_calls += 1
        return sequences

    def _advance(self, seq: Sequence_, token: int, stops, hopeless, settled=None) -> None:
        if token in self.eos_ids:
            seq.done = True
            return
        seq.tokens.append(token)
        # No clean-up of tokenisation spaces: with it a prefix's text need not be a prefix of
        # the final text (" McDonald '" vs " McDonald's"), and pruning judges prefixes.
        seq.text = self.tokenizer.decode(seq.tokens, skip_special_tokens=True,
                                         clean_up_tokenization_spaces=False)
        cut = min((seq.text.find(s) for s in stops if s in seq.text), default=-1)
        if cut >= 0:
            seq.text = seq.text[:cut]
            seq.done = True
        elif hopeless is not None and hopeless(_without_partial_stop(seq.text, stops)):
            seq.pruned = True
            seq.done = True
        elif settled is not None and settled(_without_partial_stop(seq.text, stops)):
            seq.done = True


def _without_partial_stop(text: str, stops: Sequence[str]) -> str:
    """Drop a tail that may be the start of a multi-character stop string.

    `hopeless` judges the answer text; a half-generated stop (say "\\nQ" of "\\nQ:") is not
    part of the answer and must not count against it.
    """
    for stop in stops:
        for k in range(len(stop) - 1, 0, -1):
            if text.endswith(stop[:k]):
                return text[: -k]
    return text


class ContinuationScorer:
    """Fast mode: one forward pass over prompt + gold continuation, no sampling.

    For each (prompt, continuation) it reports whether greedy decoding reproduces the
    continuation and then ends the answer, and the probability that one sample at the given
    temperature and top-k does the same.
    """

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

        `ends` False: the continuation's tokens alone, not followed by an end of answer.
        """
        full = [p + c for p, c in items]
        limits = [len(p) - 1 for p, _ in items]
        end = self.end_ids(stop)
        out: list[tuple[bool, float] | None] = [None] * len(items)
        for prefix_len, members in cluster_by_prefix(full, limits=limits):
            prefix_kv = self.decoder._prefill_prefix(full[members[0]][:prefix_len])
            for start in range(0, len(members), self.max_rows):
                chunk = members[start : start + self.max_rows]
                suffixes = [full[i][prefix_len:] for i in chunk]
                # Logits only where they are judged: the positions predicting each
                # continuation token, then the end of the answer (the LM head is ~20% of
                # a forward pass; the question tokens need none).
                last = max(len(items[i][1]) for i in chunk) + 1
                _, _, logits = self.decoder._prefill_chunk(prefix_kv, prefix_len, suffixes,
                                                           last)
                for r, i in enumerate(chunk):
                    n_cont = len(items[i][1])
                    rows = logits[r, last - n_cont - 1 :, :].float()
                    out[i] = self._judge(rows, items[i][1], end if ends else None,
                                         temperature, top_k)
        return out

    @staticmethod
    def _judge(logits, continuation, end, temperature, top_k):
        greedy_tokens = logits.argmax(dim=-1)
        target = torch.tensor(continuation, device=logits.device)
        greedy = bool((greedy_tokens[:-1] == target).all()) and (
            end is None or bool(torch.isin(greedy_tokens[-1:], end).item())
        )
        scores = logits / temperature
        if top_k and top_k < scores.shape[-1]:
            kth = torch.topk(scores, top_k, dim=-1).values[:, -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        logp = torch.log_softmax(scores, dim=-1)
        token_logp = logp[:-1].gather(1, target[:, None]).sum()
        if end is None:
            return greedy, float(torch.exp(token_logp))
        end_logp = torch.logsumexp(logp[-1, end], dim=0)
        return greedy, float(torch.exp(token_logp + end_logp))
