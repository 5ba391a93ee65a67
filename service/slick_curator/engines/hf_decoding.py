"""A decoding loop for the transformers engine that computes as few tokens as possible.

`generate` already wastes little on big GPUs; on a CPU every token costs. So:
- prompts are clustered by shared token prefix (a group's few-shot exemplars) and each
  prefix is prefilled once, then copied to the rows that share it;
- inside a cluster, prompts that share a longer prefix (the fact probes of one answer: one
  prompt, answer heads that extend each other) branch the KV cache: the shared part is
  prefilled once and each prompt prefills only its own tokens (`hf_branches`);
- each prompt's own tokens are prefilled once, then the cache is expanded to the n samples;
- a sequence leaves the batch the step it finishes: stop string, EOS, token limit, the
  request's `hopeless` hint saying its text can no longer be a correct answer, or its
  `settled` hint saying its verdict is fixed.
Every sample draws its tokens from its own random stream (`streams`), so dropping a sequence
from the batch never changes what the others draw.
Prompts of different lengths are padded *between* their cached prefix and their own tokens;
the attention mask hides the padding and explicit position ids keep every token at its true
position, so each sequence computes what it would compute alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from slick_curator.engines.ending_tokens import EndingTokens
from slick_curator.engines.hf_branches import (
    MIN_BRANCH_TOKENS,
    Branches,
    cluster_by_prefix,
    plan_branches,
    stack,
)
from slick_curator.engines.streams import key_tensor, sample_tokens, sample_words

# ~3 GB of fp32 KV cache for SmolLM2-135M (46 KB a token), and the copy a decoding step makes.
MAX_CACHE_TOKENS = 65_536

__all__ = [
    "DecodeStats", "PrefixDecoder", "Prefilled", "Sequence_", "batch_chunks", "cluster_by_prefix",
]


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
    """Tokens the model actually computed (the cost that matters on CPU), and tokens sharing
    saved: prompt tokens no forward pass computed because another prompt's prefill served
    them, through a cluster's shared prefix or a KV branch inside a cluster."""

    prefill_tokens: int = 0
    decode_tokens: int = 0
    forward_calls: int = 0
    prefix_shared_tokens: int = 0
    branch_shared_tokens: int = 0


@dataclass
class Prefilled:
    """A batch after its prefill: the cache, its mask, each row's next position, the logits
    (the last `keep` positions of every row, right-aligned: [rows, keep, vocab])."""

    cache: DynamicCache
    mask: torch.Tensor
    next_pos: list[int]
    logits: torch.Tensor


class PrefixDecoder:
    """Runs the loop for one model and tokenizer; see the module docstring.

    `max_sequences` and `max_cache_tokens` bound one decoding batch: its sequences, and the
    tokens their KV caches hold at most (sequences x (longest prompt + max_new_tokens)). The
    second matters for long prompts: 256 samples of 700-token fact probes would hold 180k
    tokens (8 GB of fp32 cache for a 135M model; more while a step copies it).
    `branch_tokens`: the fewest tokens a KV branch shares (None: no branches, only cluster
    prefixes are shared; for measuring what branches save).
    """

    def __init__(self, model, tokenizer, eos_ids: set[int], max_sequences: int = 256,
                 branch_tokens: int | None = MIN_BRANCH_TOKENS,
                 max_cache_tokens: int = MAX_CACHE_TOKENS) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.max_sequences = max_sequences
        self.max_cache_tokens = max_cache_tokens
        self.branch_tokens = branch_tokens
        self.stats = DecodeStats()
        self.device = next(model.parameters()).device
        self.ending_tokens = EndingTokens(tokenizer, eos_ids)

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
        continues: Sequence[bool] | None = None,
    ) -> list[list[Sequence_]]:
        """The n decoded sequences of every prompt, in prompt order.

        Sample j of prompt i draws from the stream (stream_keys[i], j) (see `streams`), so it
        does not depend on which other prompts are decoded with it. `continues[i]`: prompt i's
        first token may not end it (`GenerationRequest.continues`).
        """
        if not greedy and stream_keys is None:
            raise ValueError("sampling needs a stream key per prompt")
        out: list[list[Sequence_]] = [[] for _ in token_lists]
        hints = [
            (hopeless[i], settled[i] if settled is not None else None)
            for i in range(len(token_lists))
        ]
        goes_on = list(continues) if continues is not None else [False] * len(token_lists)
        for prefix_len, members in cluster_by_prefix(token_lists):
            root = self.prefill_prefix(token_lists[members[0]][:prefix_len], len(members))
            widths = [len(token_lists[i]) + max_new_tokens for i in members]
            for chunk in batch_chunks(members, widths, n, self.max_sequences,
                                      self.max_cache_tokens):
                prefilled = self.prefill(root, [token_lists[i][prefix_len:] for i in chunk])
                sequences = self._decode_chunk(
                    prefilled, chunk, n, greedy, temperature, top_k, max_new_tokens, stops,
                    hints, stream_keys, [goes_on[i] for i in chunk],
                )
                for seq in sequences:
                    out[seq.request].append(seq)
        return out

    def prefill_prefix(self, prefix: list[int], sharers: int = 1) -> Branches:
        """The cache of a prefix that `sharers` prompts share: one row."""
        if not prefix:
            return Branches([], torch.zeros((1, 0), dtype=torch.long, device=self.device), [0])
        cache = DynamicCache()
        ids = torch.tensor([prefix], device=self.device)
        # Only the KV cache is wanted: the LM head over every prefix position would cost about
        # a fifth of the prefill (vocab 49k x hidden), so keep the minimum of one position.
        self.model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        self.stats.prefill_tokens += len(prefix)
        self.stats.prefix_shared_tokens += len(prefix) * (sharers - 1)
        self.stats.forward_calls += 1
        mask = torch.ones((1, len(prefix)), dtype=torch.long, device=self.device)
        return Branches.from_cache(cache, mask, [len(prefix)])

    def prefill(
        self,
        root: Branches,
        suffixes: Sequence[list[int]],
        *,
        keep: int = 1,
        limits: Sequence[int] | None = None,
    ) -> Prefilled:
        """Prefill prompts that continue `root` (one cached row) by `suffixes`.

        Suffixes sharing a longer prefix branch the cache (`hf_branches.plan_branches`): each
        trie level is one batched forward, then one forward computes every prompt's own
        tokens, with logits for its last `keep` positions. `limits[i]`: the most tokens of
        suffix i a branch may cover (default all but the last); no logits come from inside one.
        """
        no_branches = 1 << 30  # no run of tokens is this long
        plan = plan_branches(suffixes, limits, self.branch_tokens or no_branches)
        self.stats.branch_shared_tokens += plan.saved
        where: list[tuple[Branches, int]] = [(root, 0)] * len(plan.nodes)  # node's cache, row
        for depth in range(plan.depth):
            level = [k for k, node in enumerate(plan.nodes) if node.depth == depth]
            base = stack([where[plan.nodes[k].parent] if plan.nodes[k].parent >= 0
                          else (root, 0) for k in level])
            segments = [suffixes[plan.nodes[k].member][plan.nodes[k].start : plan.nodes[k].end]
                        for k in level]
            done = self._extend(base, segments, keep=1)
            cached = Branches.from_cache(done.cache, done.mask, done.next_pos)
            for row, k in enumerate(level):
                where[k] = (cached, row)
        base = stack([where[p] if p >= 0 else (root, 0) for p in plan.parent])
        return self._extend(base, [s[plan.start[i]:] for i, s in enumerate(suffixes)], keep)

    def _extend(self, base: Branches, segments: Sequence[list[int]], keep: int) -> Prefilled:
        """One forward of `segments` (one per row) after the rows of `base`, left-padded."""
        rows = len(segments)
        width = max(len(s) for s in segments)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((rows, width), pad, dtype=torch.long)
        own = torch.zeros((rows, width), dtype=torch.long)
        positions = torch.zeros((rows, width), dtype=torch.long)
        for r, segment in enumerate(segments):
            offset = width - len(segment)
            ids[r, offset:] = torch.tensor(segment)
            own[r, offset:] = 1
            positions[r, :] = base.length[r]
            positions[r, offset:] = torch.arange(base.length[r], base.length[r] + len(segment))
        cache = DynamicCache()
        for layer, (k, v) in enumerate(base.kv):
            cache.update(k, v, layer)
        mask = torch.cat([base.mask, own.to(self.device)], dim=1)
        ids, positions = ids.to(self.device), positions.to(self.device)
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                            past_key_values=cache, use_cache=True, logits_to_keep=keep).logits
        self.stats.prefill_tokens += sum(len(s) for s in segments)
        self.stats.forward_calls += 1
        next_pos = [length + len(s) for length, s in zip(base.length, segments, strict=True)]
        return Prefilled(cache, mask, next_pos, logits)

    def _decode_chunk(self, prefilled: Prefilled, requests, n, greedy, temperature, top_k,
                      max_new_tokens, stops, hints, stream_keys,
                      goes_on: list[bool]) -> list[Sequence_]:
        rows = len(requests)
        cache, mask, logits = prefilled.cache, prefilled.mask, prefilled.logits[:, -1, :]
        if any(goes_on):
            logits = logits.clone()
            ending = torch.tensor(self.ending_tokens(stops), device=self.device)
            going = torch.tensor([r for r, g in enumerate(goes_on) if g], device=self.device)
            logits[going[:, None], ending[None, :]] = float("-inf")
        if n > 1:  # expand after the prefill: the samples share it
            cache.batch_repeat_interleave(n)
            mask = mask.repeat_interleave(n, dim=0)
            logits = logits.repeat_interleave(n, dim=0)
        next_pos = torch.tensor(prefilled.next_pos, device=self.device).repeat_interleave(n)
        sequences = [Sequence_(request=requests[r]) for r in range(rows) for _ in range(n)]
        keys = None if greedy else key_tensor(
            (sample_words(stream_keys[requests[r]], j) for r in range(rows) for j in range(n)),
            self.device)
        active = list(range(len(sequences)))
        for step in range(max_new_tokens):
            if greedy:
                chosen = logits.max(dim=-1).indices.tolist()  # first maximum, as argmax; faster
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
            logits, mask, next_pos = self.step(cache, mask, next_pos, [t for _, t in still])
        return sequences

    def step(self, cache: DynamicCache, mask: torch.Tensor, next_pos: torch.Tensor,
             tokens: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One decoding step: `tokens[r]` after row r of the cache (grown in place). Returns
        the next logits ([rows, vocab]), the mask and the positions after it."""
        ids = torch.tensor([[t] for t in tokens], device=self.device)
        mask = torch.cat([mask, torch.ones((len(tokens), 1), dtype=mask.dtype,
                                           device=self.device)], 1)
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=next_pos[:, None],
                            past_key_values=cache, use_cache=True).logits[:, -1, :]
        self.stats.decode_tokens += len(tokens)
        self.stats.forward_calls += 1
        return logits, mask, next_pos + 1

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
        elif hopeless is not None and hopeless(without_partial_stop(seq.text, stops)):
            seq.pruned = True
            seq.done = True
        elif settled is not None and settled(without_partial_stop(seq.text, stops)):
            seq.done = True


def batch_chunks(members: list[int], widths: list[int], n: int, max_sequences: int,
                 max_tokens: int) -> list[list[int]]:
    """Consecutive runs of `members` whose n samples each fit one batch: at most
    `max_sequences` sequences and sequences x widest member (`widths`: prompt + new tokens)
    at most `max_tokens`. A member over the token budget alone still gets a batch of its own.
    Results do not depend on the split: every sample has its own random stream."""
    chunks: list[list[int]] = []
    chunk: list[int] = []
    widest = 0
    for member, width in zip(members, widths, strict=True):
        rows = (len(chunk) + 1) * n
        if chunk and (rows > max_sequences or rows * max(widest, width) > max_tokens):
            chunks.append(chunk)
            chunk, widest = [], 0
        chunk.append(member)
        widest = max(widest, width)
    if chunk:
        chunks.append(chunk)
    return chunks


def without_partial_stop(text: str, stops: Sequence[str]) -> str:
    """Drop a tail that may be the start of a multi-character stop string.

    `hopeless` judges the answer text; a half-generated stop (say "\\nQ" of "\\nQ:") is not
    part of the answer and must not count against it.
    """
    for stop in stops:
        for k in range(len(stop) - 1, 0, -1):
            if text.endswith(stop[:k]):
                return text[: -k]
    return text
