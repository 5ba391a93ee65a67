"""Greedy answers and exact match probabilities for Llama-family models, with tree attention.

`PrefixDecoder` runs the model through transformers: each sequence owns a KV cache row, so a
batch mixing prompts of different few-shot prefixes copies every prefix into every row, and a
tree of continuations copies its parent's cache for every child. On a CPU those copies, not
the matrix products, are the cost. `TreeDecoder` runs the model through `tree_attention`
instead: prefixes computed once and shared in place, each prompt's continuations appended to
its own row.

`run` first decodes every prompt greedily (the same batches whether or not a tree follows, so
greedy answers do not depend on the mode), then, when asked, expands the tree of samples off
the greedy paths (`tree_expansion`): the chance that one sample (temperature T, top-k) ends
judged correct, with the mass left unexpanded. Texts grow by token bytes (`token_text`), not
by decoding whole paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from slick_curator.engines import tree_expansion
from slick_curator.engines.heap import release_free_memory
from slick_curator.engines.hf_branches import cluster_by_prefix
from slick_curator.engines.hf_decoding import DecodeStats, without_partial_stop
from slick_curator.engines.hf_exact import TreeJob
from slick_curator.engines.token_text import TokenBytes
from slick_curator.engines.tree_attention import TreeModel, supports
from slick_curator.engines.tree_cache import NEG, Own
from slick_curator.engines.tree_expansion import Expansion
from slick_curator.engines.tree_frontier import repeat_draft

__all__ = ["TreeDecoder", "TreeResult", "supports"]

# Prompts per batch: bounds the own-token caches (rows x slots x layers). A pass reads every
# weight whatever it computes, so larger batches are faster (bench/RESULTS.md, 2026-12-06:
# 200 rows in 57.7 s at 320, 53.4 s at 640) but hold more (peak RSS 2.6 GB, 3.5 GB).
MAX_ROWS = 320
# Prefix slots per batch (distinct prefixes x the longest): bounds its grid. QA prompts share
# a few exemplar sets (60 prefixes of ~100 tokens in 320 prompts); the fact probes of chat rows
# have a head of their own per row and exemplar set, several hundred tokens each (16,384
# measured as fast on 24 long-form rows; 8,192 is 0.38 GB of grid in fp32 for SmolLM2-135M).
MAX_GRID_TOKENS = 8192


@dataclass
class TreeResult:
    """One prompt: its greedy answer, and (when a tree was expanded) the chance that one
    sample is judged correct (`probability`, a lower bound) and the mass left unexpanded."""

    greedy_tokens: list[int]
    greedy_text: str
    greedy_pruned: bool = False
    prompt_tokens: int = 0
    probability: float = 0.0
    unexplored: float = 0.0

class TreeDecoder:
    """See the module docstring. `stats` is shared with the engine's `PrefixDecoder`."""

    def __init__(self, model, tokenizer, eos_ids: set[int], ending_tokens,
                 stats: DecodeStats | None = None, max_rows: int = MAX_ROWS) -> None:
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.ending_tokens = ending_tokens
        self.max_rows = max_rows
        self.token_bytes = TokenBytes.for_tokenizer(tokenizer)
        self.net = TreeModel(model, tokenizer.pad_token_id or 0, stats or DecodeStats())
        self.stats = self.net.stats
        self.nodes = 0  # tree paths computed, for benchmarks
        # greedy tokens and tree paths taken from drafts (`repeat_draft`), not computed again
        self.drafted = 0

    @torch.inference_mode()
    def run(self, jobs: Sequence[TreeJob], *, max_new_tokens: int, stops: Sequence[str],
            expand: bool = False, temperature: float = 1.0, top_k: int = 0, bound: float = 0.0,
            greedy_hopeless: Sequence | None = None) -> list[TreeResult]:
        """Greedy answers of every job; with `expand`, also each job's chance that one sample
        (temperature, top_k) is judged correct, leaving at most `bound` of its mass unexpanded
        (plus what `MAX_OPEN_PER_PROMPT` cuts, reported in `unexplored`).
        `greedy_hopeless[i]`: prune job i's greedy answer once hopeless (then `greedy_pruned`).
        """
        if expand and (temperature <= 0 or top_k < 1):
            raise ValueError("exact mode needs sampling with temperature > 0 and top_k >= 1")
        results: list[TreeResult | None] = [None] * len(jobs)
        token_lists = [job.tokens for job in jobs]
        placed = []  # (prefix length, job) in cluster order
        for prefix_len, members in cluster_by_prefix(token_lists, frugal=True):
            placed += [(prefix_len, i) for i in members]
        for chunk in self._chunks(placed, token_lists):
            self._run_chunk(jobs, chunk, results, max_new_tokens, tuple(stops), expand,
                            temperature, top_k, bound, greedy_hopeless)
            release_free_memory()
        return results  # type: ignore[return-value]

    def _chunks(self, placed: list[tuple[int, int]], token_lists):
        """Batches of `placed` in order: at most `max_rows` prompts, and prefixes that fit
        `MAX_GRID_TOKENS` (one prefix over it still makes a batch)."""
        chunk: list[tuple[int, int]] = []
        prefixes: set[tuple[int, ...]] = set()
        longest = 0
        for prefix_len, i in placed:
            key = tuple(token_lists[i][:prefix_len])
            grown = len(prefixes) + (key not in prefixes)
            if chunk and (len(chunk) == self.max_rows
                          or grown * max(longest, prefix_len) > MAX_GRID_TOKENS):
                yield chunk
                chunk, prefixes, longest = [], set(), 0
            chunk.append((prefix_len, i))
            prefixes.add(key)
            longest = max(longest, prefix_len)
        if chunk:
            yield chunk

    def _run_chunk(self, jobs, chunk, results, max_new_tokens, stops, expand, temperature,
                   top_k, bound, greedy_hopeless) -> None:
        keys = [tuple(jobs[i].tokens[:n]) for n, i in chunk]
        grid = chunk_grid = self.net.grid(keys, self.net.prefix_kv(keys))
        order = [i for _, i in chunk]
        suffixes = [jobs[i].tokens[n:] for n, i in chunk]
        own, logits = self.net.prefill_sorted(suffixes, [n for n, _ in chunk], grid,
                                           max(len(s) for s in suffixes) + max_new_tokens)
        own.jobs = list(range(len(chunk)))  # rows hold chunk positions
        ending = torch.tensor(self.ending_tokens(stops), dtype=torch.long)
        goes_on = torch.tensor([jobs[i].continues for i in order])
        if goes_on.any():
            logits[goes_on.nonzero()[:, :1], ending[None, :]] = NEG
        greedy = _GreedyState(self, [jobs[i] for i in order], stops, max_new_tokens,
                              [greedy_hopeless[i] if greedy_hopeless else None for i in order],
                              expand, top_k)
        retired: list[tuple[Own, int]] = [(own, r) for r in range(len(chunk))]
        greedy.take(list(range(len(chunk))), logits)
        active = [pos for pos in range(len(chunk)) if not greedy.done[pos]]
        while active:
            if len(active) <= len(own.jobs) // 2:  # compact: finished rows stay in `retired`
                row_of = {pos: r for r, pos in enumerate(own.jobs)}
                rows = [row_of[pos] for pos in active]
                own, grid = own.select(rows), grid.select(torch.tensor(rows))
                for r, pos in enumerate(own.jobs):
                    retired[pos] = (own, r)
            self._greedy_step(jobs, order, own, grid, greedy, active)
            active = [pos for pos in active if not greedy.done[pos]]
        for pos, i in enumerate(order):
            results[i] = TreeResult(greedy.tokens[pos], greedy.text[pos], greedy.pruned[pos],
                                    len(jobs[i].tokens))
        if expand:
            expansion = Expansion(self, jobs, order, retired, grid=chunk_grid, greedy=greedy,
                                  stops=stops, temperature=temperature, top_k=top_k,
                                  bound=bound, max_new_tokens=max_new_tokens, results=results)
            # from here the expansion alone holds the greedy batches, and lets each go once
            # none of its prompts has an open path
            del retired, own, grid, logits
            release_free_memory()
            expansion.run()

    def _greedy_step(self, jobs, order, own: Own, grid, greedy: _GreedyState,
                     active: list[int]) -> None:
        """One pass of the greedy answers of `active` (rows of `own`): each row's last chosen
        token, and where few rows are left, the tokens after it that `repeat_draft` guesses
        (an answer that repeats itself, "King of the King of ..."), each query seeing the ones
        before. A row takes its next token, then each drafted token's next while it chose
        that drafted token."""
        # Only once few rows are left (and compaction has made the batch small): rejected
        # drafts still take slots, and a batch of hundreds of rows would grow its caches.
        size = 0
        if len(active) <= tree_expansion.DRAFT_ROWS:
            size = min(tree_expansion.MAX_DRAFT, tree_expansion.DRAFT_TOKENS // len(active))
        # the last chosen token's logits give the next token; token max_new_tokens is the last
        drafts = {pos: repeat_draft(greedy.tokens[pos],
                                    min(size, greedy.max_new_tokens - greedy.taken[pos] - 1))
                  for pos in active}
        width = 1 + max(len(d) for d in drafts.values())
        row_of = {pos: r for r, pos in enumerate(own.jobs)}
        ids = torch.full((len(own.jobs), width), self.net.pad, dtype=torch.long)
        positions = torch.zeros((len(own.jobs), width), dtype=torch.long)
        queries: list[list[list[int]]] = [[] for _ in own.jobs]
        keep = []
        first: dict[int, tuple[int, int]] = {}  # per row: its first query's logits row, slot
        for pos in active:
            r = row_of[pos]
            fill = own.fills[r]
            first[pos] = (len(keep), fill)
            start = len(jobs[order[pos]].tokens) + greedy.taken[pos] - 1  # the last chosen
            greedy.slots[pos].append(fill)
            seen = list(greedy.slots[pos])
            for t, token in enumerate([greedy.tokens[pos][-1], *drafts[pos]]):
                if t:
                    seen = [*seen, fill + t]
                ids[r, t], positions[r, t] = token, start + t
                queries[r].append(seen)
                keep.append(r * width + t)
        bias = self.net.step_bias(own, width, queries)
        logits = self.net.forward(ids, positions, own, bias, grid, torch.tensor(keep))
        self.stats.decode_tokens += len(keep)
        takers = active
        for j in range(width):
            if j:  # rows that chose drafted token j: its slot joins the path, its logits next
                takers = [pos for pos in takers if not greedy.done[pos] and j <= len(drafts[pos])
                          and greedy.tokens[pos][-1] == drafts[pos][j - 1]]
                if not takers:
                    break
                for pos in takers:
                    greedy.slots[pos].append(first[pos][1] + j)
                self.drafted += len(takers)
            greedy.take(takers, logits[torch.tensor([first[pos][0] + j for pos in takers])])

    def text(self, data: bytes, tokens: list[int]) -> str:
        if self.token_bytes is not None:
            return TokenBytes.text(data)
        return self.tokenizer.decode(tokens, skip_special_tokens=True,
                                     clean_up_tokenization_spaces=False)

    def extend(self, data: bytes, token: int) -> bytes:
        return data + self.token_bytes[token] if self.token_bytes is not None else b""

class _GreedyState:
    """The greedy answers of one chunk (by chunk position), and with a tree to follow, the
    top-k candidates at each greedy step."""

    def __init__(self, decoder: TreeDecoder, jobs: list[TreeJob], stops, max_new_tokens,
                 hopeless, keep_candidates: bool, top_k: int) -> None:
        self.decoder, self.jobs, self.stops = decoder, jobs, stops
        self.max_new_tokens = max_new_tokens
        self.hopeless = hopeless
        n = len(jobs)
        self.tokens: list[list[int]] = [[] for _ in range(n)]
        self.data: list[bytes] = [b""] * n
        self.text: list[str] = [""] * n
        self.done = [False] * n
        self.pruned = [False] * n
        self.ended_by: list[str] = [""] * n  # eos / stop / settled / limit / pruned
        self.slots: list[list[int]] = [[] for _ in range(n)]
        self.taken = [0] * n  # tokens chosen (an EOS too)
        self.top_k = top_k if keep_candidates else 0
        self.candidates: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[] for _ in range(n)]

    def take(self, active: list[int], scores: torch.Tensor) -> None:
        """Advance the greedy answers of `active` (rows of `scores`, in order) by one token."""
        chosen = scores.max(-1).indices.tolist()  # first maximum, as argmax; 4x faster in bf16
        values = tokens = None
        if self.top_k:
            values, tokens = torch.topk(scores, min(self.top_k, scores.shape[-1]), dim=-1)
        for k, (pos, token) in enumerate(zip(active, chosen, strict=True)):
            self.taken[pos] += 1
            if values is not None:
                self.candidates[pos].append((values[k], tokens[k]))
            self._advance(pos, token, self.taken[pos] == self.max_new_tokens)

    def _advance(self, pos: int, token: int, last: bool) -> None:
        job, decoder = self.jobs[pos], self.decoder
        if token in decoder.eos_ids:
            self.done[pos], self.ended_by[pos] = True, "eos"
            return
        self.tokens[pos].append(token)
        self.data[pos] = decoder.extend(self.data[pos], token)
        text = decoder.text(self.data[pos], self.tokens[pos])
        cut = min((text.find(s) for s in self.stops if s in text), default=-1)
        if cut >= 0:
            self.text[pos] = text[:cut]
            self.done[pos], self.ended_by[pos] = True, "stop"
            return
        self.text[pos] = text
        answer = without_partial_stop(text, self.stops)
        if self.hopeless[pos] is not None and self.hopeless[pos](answer):
            self.done[pos] = self.pruned[pos] = True
            self.ended_by[pos] = "pruned"
        elif job.settled is not None and job.settled(answer):
            self.done[pos], self.ended_by[pos] = True, "settled"
        elif last:
            self.done[pos], self.ended_by[pos] = True, "limit"
