"""Exact mode for the transformers engine: the chance that one sample is correct, computed.

A sample (temperature T, top-k) is a path through the tree of continuations: at each step it
picks one of the k best tokens with probability softmax(top-k logits / T), exactly as
`streams.sample_tokens` draws it. `TreeExpander` walks that tree level by level, one batched
forward pass per level for every open path of every prompt (each path's KV cache is its
parent's plus one token), and sums the probability of the paths that end correct:
- a path ends as a sampled sequence would (`PrefixDecoder._advance`): EOS, a stop string, the
  request's `settled` hint, or the token limit; it is then judged by the request's `judge`;
- a path whose text can no longer be correct (`hopeless`) is dropped: it adds nothing;
- the least likely open paths are left unexpanded while their mass, per prompt, stays within
  `bound` (and when a level would hold more paths than `max_rows`, or than the decoder's
  KV-cache budget allows): that mass is reported, so the true probability lies in
  [probability, probability + unexplored].
With a matcher that prunes (exact match), only continuations that are still a prefix of a gold
survive a level, so the tree stays a handful of paths wide.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from slick_curator.engines.hf_branches import cluster_by_prefix
from slick_curator.engines.hf_decoding import PrefixDecoder, batch_chunks, without_partial_stop


@dataclass
class _Path:
    prompt: int  # index into the call's prompts
    tokens: list[int]
    text: str
    probability: float
    row: int  # the row of its parent's logits and cache in the current batch


@dataclass(frozen=True)
class TreeJob:
    """One prompt's tree: its tokens and the hints that end, drop and judge paths."""

    tokens: list[int]
    judge: Callable[[str], bool]
    hopeless: Callable[[str], bool] | None = None
    settled: Callable[[str], bool] | None = None
    continues: bool = False


# Open paths a prompt is expected to have at a level: prompts are batched so that this many
# per prompt fit the KV-cache budget (more are cut, their mass reported as unexplored).
_PATHS_PER_PROMPT = 4


class TreeExpander:
    """Computes match probabilities for one model; see the module docstring."""

    def __init__(self, decoder: PrefixDecoder, max_rows: int = 256) -> None:
        self.decoder = decoder
        self.max_rows = max_rows
        self.nodes = 0  # paths expanded (rows of a forward pass), for benchmarks

    @torch.inference_mode()
    def probabilities(self, jobs: Sequence[TreeJob], *, temperature: float, top_k: int,
                      max_new_tokens: int, stops: Sequence[str], bound: float
                      ) -> list[tuple[float, float]]:
        """(probability, unexplored mass) per job, in order."""
        if temperature <= 0 or top_k < 1:
            raise ValueError("exact mode needs sampling with temperature > 0 and top_k >= 1")
        found = [0.0] * len(jobs)
        left = [0.0] * len(jobs)
        token_lists = [job.tokens for job in jobs]
        budget = self.decoder.max_cache_tokens
        for prefix_len, members in cluster_by_prefix(token_lists):
            root = self.decoder.prefill_prefix(token_lists[members[0]][:prefix_len],
                                               len(members))
            widths = [len(token_lists[i]) + max_new_tokens for i in members]
            # Room for a few open paths per prompt in one batch of KV caches.
            for chunk in batch_chunks(members, widths, _PATHS_PER_PROMPT, self.max_rows,
                                      budget):
                widest = max(len(token_lists[i]) for i in chunk) + max_new_tokens
                prefilled = self.decoder.prefill(root, [token_lists[i][prefix_len:]
                                                        for i in chunk])
                self._expand(prefilled, chunk, jobs, found, left, temperature, top_k,
                             max_new_tokens, tuple(stops), bound,
                             max(1, min(self.max_rows, budget // widest)))
        return list(zip(found, left, strict=True))

    def _expand(self, prefilled, chunk, jobs, found, left, temperature, top_k,
                max_new_tokens, stops, bound, max_paths) -> None:
        decoder = self.decoder
        cache, mask = prefilled.cache, prefilled.mask
        next_pos = torch.tensor(prefilled.next_pos, device=decoder.device)
        logits = prefilled.logits[:, -1, :]
        paths = [_Path(i, [], "", 1.0, row) for row, i in enumerate(chunk)]
        for step in range(max_new_tokens):
            scores = logits
            if step == 0 and any(jobs[p.prompt].continues for p in paths):
                ending = torch.tensor(decoder.ending_tokens(stops), device=decoder.device)
                scores = scores.clone()
                rows = torch.tensor([p.row for p in paths if jobs[p.prompt].continues],
                                    device=decoder.device)
                scores[rows[:, None], ending[None, :]] = float("-inf")
            # The draw of streams.sample_tokens: top-k first, then softmax(values / T) in fp64.
            values, tokens = torch.topk(scores, min(top_k, scores.shape[-1]), dim=-1)
            logq = torch.log_softmax(values.to(torch.float64) / temperature, dim=-1)
            last = step == max_new_tokens - 1
            children: list[_Path] = []
            for path, row_tokens, row_logq in zip(paths, tokens.tolist(), logq.tolist(),
                                                  strict=True):
                job = jobs[path.prompt]
                for token, lq in zip(row_tokens, row_logq, strict=True):
                    p = path.probability * math.exp(lq)
                    if p == 0.0:
                        continue
                    child = self._child(path, token, p, job, stops, last)
                    if child is None:
                        continue
                    if isinstance(child, bool):
                        if child:
                            found[path.prompt] += p
                        continue
                    children.append(child)
            children = self._within_budget(children, left, bound, max_paths)
            if not children:
                return
            index = torch.tensor([c.row for c in children], device=decoder.device)
            cache.batch_select_indices(index)
            mask, next_pos = mask[index], next_pos[index]
            for row, child in enumerate(children):
                child.row = row
            logits, mask, next_pos = decoder.step(cache, mask, next_pos,
                                                  [c.tokens[-1] for c in children])
            self.nodes += len(children)
            paths = children

    def _child(self, path: _Path, token: int, p: float, job: TreeJob, stops, last: bool
               ) -> _Path | bool | None:
        """The path one token longer: a verdict (True/False) where it ends, None where it is
        hopeless, else the open path (its row still the parent's)."""
        if token in self.decoder.eos_ids:
            return job.judge(path.text.strip())
        tokens = [*path.tokens, token]
        text = self.decoder.tokenizer.decode(tokens, skip_special_tokens=True,
                                             clean_up_tokenization_spaces=False)
        cut = min((text.find(s) for s in stops if s in text), default=-1)
        if cut >= 0:
            return job.judge(text[:cut].strip())
        answer = without_partial_stop(text, stops)
        if job.hopeless is not None and job.hopeless(answer):
            return None
        if last or (job.settled is not None and job.settled(answer)):
            return job.judge(text.strip())
        return _Path(path.prompt, tokens, text, p, path.row)

    @staticmethod
    def _within_budget(children: list[_Path], left: list[float], bound: float,
                       max_paths: int) -> list[_Path]:
        """Leave the least likely paths unexpanded while each prompt's unexplored mass stays
        within `bound`; past `max_paths` paths, the least likely are left regardless."""
        keep = []
        for path in sorted(children, key=lambda c: c.probability):
            if left[path.prompt] + path.probability <= bound:
                left[path.prompt] += path.probability
            else:
                keep.append(path)
        keep.sort(key=lambda c: -c.probability)
        for path in keep[max_paths:]:
            left[path.prompt] += path.probability
        keep = keep[:max_paths]
        keep.sort(key=lambda c: c.row)  # parents' order: the cache rows are selected in it
        return keep
