"""Exact mode's tree of samples, grown off the greedy paths of one batch of prompts.

A sample (temperature T, top-k) is a path through the tree of continuations: at each step it
picks one of the k best tokens with probability softmax(top-k logits / T), as
`streams.sample_tokens` draws it. `Expansion` starts from every token that leaves a greedy
path (the greedy pass kept each step's top-k), computes a level of open paths per forward pass
(`tree_attention`: appended to their prompt's own row, no cache copied) and sums the mass of
the paths that end judged correct. The rules a path ends, is dropped or is left unexpanded by
are `hf_exact`'s; the greedy path itself is one sample, judged as the greedy answer ended.
"""

from __future__ import annotations

import numpy as np
import torch

from slick_curator.engines.hf_decoding import without_partial_stop
from slick_curator.engines.tree_attention import Segment
from slick_curator.engines.tree_cache import Grid, Own
from slick_curator.engines.tree_frontier import Candidates, Path, plan_frontier, repeat_draft

__all__ = ["Expansion"]

# Open sampled paths computed per prompt at a level at most (the others wait for the next), and
# paths computed per prompt in all (the least likely beyond are left unexplored, their mass
# reported). What fills them is text the normaliser reads as nothing yet, articles and
# punctuation ("A: A: A-A-A"), which the model repeats once it starts and which almost never
# ends in a gold.
MAX_OPEN_PER_PROMPT = 16
MAX_NODES_PER_PROMPT = 64
# The bound on the mass left unexpanded for a prompt whose greedy answer is right, and the
# most any prompt's bound grows to as it finds mass (`Expansion._bound`).
KNOWN_BOUND = 1e-3
MAX_BOUND = 1e-2
# The share of a prompt's bound that tiny candidates may take unjudged (`_children`).
UNJUDGED_SHARE = 0.25
# Prompts with more open paths than this at a level are a batch of their own (in the same pass).
NARROW = 2
# Drafted tokens per pass at most, and per path. A pass of a few paths costs what reading the
# weights costs (~35 ms on 2 cores), so the last levels of a chunk -- paths that repeat
# themselves, "A-A-A-A" or "A: A: A:", each level one pass -- also compute the tokens each
# path would go on with if it kept repeating; a child that is one of them is computed
# already when its level comes (`_draft`). The greedy steps of `hf_tree` draft alike.
DRAFT_TOKENS = 128
MAX_DRAFT = 24
DRAFT_ROWS = 16  # greedy steps draft once this few rows are left


class Expansion:
    """The tree of samples of one chunk, grown off its greedy paths level by level."""

    def __init__(self, decoder, jobs, order, retired, grid, greedy,
                 stops, temperature, top_k, bound, max_new_tokens, results) -> None:
        self.d = decoder
        self.net = decoder.net
        self.jobs = [jobs[i] for i in order]
        self.order = order
        self.grid = grid  # the chunk's prefixes, by chunk position
        self.greedy = greedy
        self.stops, self.temperature, self.top_k = stops, temperature, top_k
        self.max_new_tokens = max_new_tokens
        # bound 0 asks for the whole tree: nothing relaxed, nothing capped
        self.exhaustive = bound == 0.0
        # Where a prompt's greedy answer is right, its row's category is decided whatever the
        # samples do: its p only feeds the expected P_sample, which needs less precision.
        self.bounds = [max(bound, KNOWN_BOUND) if bound and job.judge(greedy.text[pos].strip())
                       and greedy.ended_by[pos] != "pruned" else bound
                       for pos, job in enumerate(self.jobs)]
        self.results = results
        n = len(order)
        self.found = [0.0] * n
        self.left = [0.0] * n
        self.unjudged = [0.0] * n  # the part of `left` no judge saw
        self.nodes = [0] * n
        # per prompt, the open paths not computed yet: parked within its bound or waiting
        self.frontier: dict[int, list[Path]] = {}
        self.waiting: set[int] = set()  # prompts with paths beyond a level's MAX_OPEN_PER_PROMPT
        self.where: dict[int, tuple[Own, int]] = dict(enumerate(retired))
        # (prompt, tokens) of paths computed ahead as drafts: their slot and their top-k
        self.drafted: dict[tuple[int, tuple[int, ...]], tuple[int, torch.Tensor, torch.Tensor]]
        self.drafted = {}
        self.batches: dict[bool, tuple[Own, Grid]] = {}

    def run(self) -> None:
        paths = self._off_greedy()
        while paths:
            # a prompt with no open path is done: its cache rows may go
            open_jobs = {path.job for path in paths}
            self.where = {pos: at for pos, at in self.where.items() if pos in open_jobs}
            paths = self._level(paths)
        for pos, parked in self.frontier.items():
            self.left[pos] += sum(path.prob for path in parked)
        for pos, i in enumerate(self.order):
            self.results[i].probability = float(self.found[pos])
            self.results[i].unexplored = float(self.left[pos])

    def _off_greedy(self) -> list[Path]:
        """The sampled paths that leave each greedy path, and the greedy path's own mass."""
        candidates = Candidates()
        g = self.greedy
        # every greedy step's top-k (by prompt, then depth), as lists: one softmax for all
        steps = [step for pos in range(len(self.jobs)) for step in g.candidates[pos]]
        shares = top = []
        if steps:
            shares = torch.softmax(torch.stack([values for values, _ in steps]).double()
                                   / self.temperature, -1).tolist()
            top = torch.stack([tokens for _, tokens in steps]).tolist()
        first = 0  # the prompt's first step among them
        for pos, job in enumerate(self.jobs):
            mass, data = 1.0, b""
            for depth in range(len(g.candidates[pos])):
                q, tokens = shares[first + depth], top[first + depth]
                prefix = g.tokens[pos][:depth]
                if depth:
                    data = self.d.extend(data, prefix[-1])
                parent = Path(pos, prefix, data, self.d.text(data, prefix), mass,
                               g.slots[pos][:depth])
                if depth and job.hopeless is not None and job.hopeless(
                        without_partial_stop(parent.text, self.stops)):
                    mass = 0.0  # nothing below a hopeless greedy prefix can match
                    break
                # None: the greedy answer ended with EOS here; that child is judged below
                chosen = g.tokens[pos][depth] if depth < len(g.tokens[pos]) else None
                stay = 0.0  # the greedy token's share: the greedy path goes on with it
                off_tokens, off_probs = [], []
                for token, p in zip(tokens, q, strict=True):
                    if token == chosen:
                        stay = p
                    else:
                        off_tokens.append(token)
                        off_probs.append(mass * p)
                candidates.add([parent], np.array([off_tokens], dtype=np.int64),
                               np.array([off_probs], dtype=np.float64))
                mass *= stay
            first += len(g.candidates[pos])
            # The greedy path is one sample too, ended as the greedy answer ended.
            if mass and g.ended_by[pos] in ("stop", "settled", "limit"):
                self._verdict(pos, mass, g.text[pos].strip())
        return self._children(candidates)

    def _children(self, candidates: Candidates) -> list[Path]:
        """The paths to compute next, from (parent, token, probability) candidates: ended ones
        judged, hopeless ones dropped, the rest added to their prompt's frontier
        (`_to_expand`). A quarter of the bound goes, unjudged, to the many tiny candidates
        (most of the top-k), so that judging them costs no time; the rest to the frontier,
        where it saves computed paths (64 rows, 2026-12-07: 7,040 nodes with half the bound
        unjudged, 6,381 with a quarter, 6,127 with an eighth, which judges more than it saves).
        """
        parents, parent_of, token_of, probs = candidates.arrays()
        owners = np.array([parent.job for parent in parents], dtype=np.int64)[parent_of]
        if len(probs):
            order = np.lexsort((probs, owners))
            sorted_p, sorted_o = probs[order], owners[order]
            starts = np.r_[0, np.flatnonzero(np.diff(sorted_o)) + 1]
            group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
            cums = np.cumsum(sorted_p)
            within = cums - (cums[group_start] - sorted_p[group_start])
            room = np.array([self._bound(o) * UNJUDGED_SHARE - self.unjudged[o]
                             for o in sorted_o])
            dropped = (within <= room) | (sorted_p == 0.0)
            for o, p in zip(sorted_o[dropped], sorted_p[dropped], strict=True):
                self.unjudged[o] += p
                self.left[o] += p
            for k in order[~dropped].tolist():
                parent = parents[parent_of[k]]
                child = self._child(parent, int(token_of[k]), float(probs[k]))
                if isinstance(child, Path):
                    self.frontier.setdefault(parent.job, []).append(child)
        # a prompt with nothing computed this level is done: its bound only grows
        touched = set(owners.tolist()) | self.waiting
        self.waiting = set()
        out = []
        for job in sorted(touched & self.frontier.keys()):
            out += self._to_expand(job)
        return out

    def _to_expand(self, job: int) -> list[Path]:
        """The paths of `job`'s frontier to compute next (`plan_frontier`); the rest stay
        in the frontier, but those cut by `MAX_NODES_PER_PROMPT`, whose mass is left."""
        if self.exhaustive:
            take, waiting, parked, cut = self.frontier.pop(job), [], [], []
        else:
            take, waiting, parked, cut = plan_frontier(
                self.frontier.pop(job), self._bound(job) - self.left[job],
                MAX_OPEN_PER_PROMPT, MAX_NODES_PER_PROMPT - self.nodes[job])
        self.left[job] += sum(path.prob for path in cut)
        if waiting:
            self.waiting.add(job)
        if parked or waiting:
            self.frontier[job] = parked + waiting
        self.nodes[job] += len(take)
        return take

    def _bound(self, pos: int) -> float:
        """The mass prompt `pos` may leave unexpanded. Against P(WeaklyKnown) =
        1 - prod (1 - p_i)^n an error u in p_i weighs at most n (1 - p_i)^(n-1) u, so once a
        prompt has found mass p its bound may grow by 1 / (1 - p)^(n-1) for the same precision
        (n = 16 samples) -- up to `MAX_BOUND`, which keeps the expected P_sample precise."""
        return min(self.bounds[pos] / max((1.0 - self.found[pos]) ** 15, 1e-12), MAX_BOUND)

    def _child(self, parent: Path, token: int, p: float) -> Path | None:
        job, stops = self.jobs[parent.job], self.stops
        if token in self.d.eos_ids:
            self._verdict(parent.job, p, parent.text.strip())
            return None
        tokens = [*parent.tokens, token]
        data = self.d.extend(parent.data, token)
        text = self.d.text(data, tokens)
        cut = min((text.find(s) for s in stops if s in text), default=-1)
        if cut >= 0:
            self._verdict(parent.job, p, text[:cut].strip())
            return None
        answer = without_partial_stop(text, stops)
        if job.hopeless is not None and job.hopeless(answer):
            return None
        if len(tokens) >= self.max_new_tokens or (job.settled is not None
                                                  and job.settled(answer)):
            self._verdict(parent.job, p, text.strip())
            return None
        return Path(parent.job, tokens, data, text, p, list(parent.slots))

    def _verdict(self, pos: int, p: float, answer: str) -> None:
        if self.jobs[pos].judge(answer):
            self.found[pos] += p

    def _level(self, paths: list[Path]) -> list[Path]:
        """Compute every open path's last token; returns their children. Prompts with many
        open paths are a batch of their own, so that the others' attention is not padded to as
        many; both batches share one pass. Paths computed ahead as drafts are not computed
        again."""
        by_job: dict[int, list[Path]] = {}
        ready, values, tokens = [], [], []
        for path in paths:
            drafted = self.drafted.pop((path.job, tuple(path.tokens)), None)
            if drafted is None:
                by_job.setdefault(path.job, []).append(path)
                continue
            path.slots.append(drafted[0])
            ready.append(path)
            values.append(drafted[1])
            tokens.append(drafted[2])
        candidates = Candidates()
        if ready:
            self._candidates(candidates, ready, torch.stack(values), torch.stack(tokens))
        self.d.drafted += len(ready)
        self.d.nodes += len(paths)
        todo = sum(len(v) for v in by_job.values())
        draft = min(MAX_DRAFT, DRAFT_TOKENS // todo) if todo else 0
        # Both batches are made before either is computed: then no row is left in the batch
        # they came from (at the first level, the greedy batch, the largest), which goes.
        batches = []
        for wide in (False, True):
            needed = sorted(j for j, v in by_job.items() if (len(v) > NARROW) == wide)
            if needed:
                batches.append((*self._batch(wide, needed), {j: by_job[j] for j in needed}))
        # one pass for both: they differ in width, not in weights read
        laid_out = [self._lay_out(own, grid, paths_of, draft) for own, grid, paths_of in batches]
        if laid_out:
            logits = self.net.forward_many([segment for segment, _ in laid_out])
            self.net.stats.decode_tokens += sum(len(flat) for _, flat in laid_out)
            for part, (_, flat_paths) in zip(logits, laid_out, strict=True):
                self._read_out(candidates, part, flat_paths)
        return self._children(candidates)

    def _batch(self, wide: bool, needed: list[int]) -> tuple[Own, Grid]:
        """The cache rows of `needed` for one class of batch: the last batch of that class
        when it holds them all (made smaller when they are under half of it), else a new one
        gathered from wherever each row was last computed."""
        held = self.batches.get(wide)
        if held is not None and all(self.where[pos][0] is held[0] for pos in needed):
            own, grid = held
            if len(needed) > len(own.jobs) // 2:
                return own, grid
            row_of = {pos: r for r, pos in enumerate(own.jobs)}
            rows = [row_of[pos] for pos in needed]
            own, grid = own.select(rows), grid.select(torch.tensor(rows))
        else:
            own, grid = self._gather(needed)
        row_of = {pos: r for r, pos in enumerate(own.jobs)}
        for pos in needed:  # the other rows may be stale: their paths went on elsewhere
            self.where[pos] = (own, row_of[pos])
        self.batches[wide] = (own, grid)
        return own, grid

    def _lay_out(self, own: Own, grid: Grid, by_job: dict[int, list[Path]], draft: int = 0):
        """The rows of `own` as one segment of a pass (`tree_attention.Segment`) that computes
        the open paths of `by_job` (other rows of `own` only pad: their paths, if any, go on
        in the other batch), and per kept query what it computes (`_read_out`). With `draft`,
        each path's next tokens as `_draft` guesses them (`repeat_draft`, up to `draft`) are
        computed too, after it, each query seeing the ones before."""
        drafts = {id(path): self._draft(path, draft) for paths in by_job.values()
                  for path in paths}
        width = max(sum(1 + len(drafts[id(path)]) for path in by_job.get(pos, ()))
                    for pos in own.jobs)
        rows = len(own.jobs)
        ids = torch.full((rows, width), self.net.pad, dtype=torch.long)
        positions = torch.zeros((rows, width), dtype=torch.long)
        queries: list[list[list[int]]] = []
        keep = []
        flat_paths = []  # per kept query: its path, or (prompt, tokens, slot) of a draft
        for r, pos in enumerate(own.jobs):
            seen: list[list[int]] = []
            for path in by_job.get(pos, ()):
                t = len(seen)
                ids[r, t] = path.tokens[-1]
                positions[r, t] = len(self.jobs[pos].tokens) + len(path.tokens) - 1
                path.slots.append(own.fills[r] + t)
                seen.append(list(path.slots))
                keep.append(r * width + t)
                flat_paths.append(path)
                tokens = list(path.tokens)
                for token in drafts[id(path)]:
                    t = len(seen)
                    tokens.append(token)
                    ids[r, t] = token
                    positions[r, t] = positions[r, t - 1] + 1
                    seen.append([*seen[-1], own.fills[r] + t])
                    keep.append(r * width + t)
                    flat_paths.append((pos, tuple(tokens), own.fills[r] + t))
            queries.append(seen)
        bias = self.net.step_bias(own, width, queries)
        return Segment(ids, positions, own, bias, grid, torch.tensor(keep)), flat_paths

    def _read_out(self, candidates: Candidates, logits: torch.Tensor, flat_paths: list) -> None:
        """Adds the candidates of the paths a segment computed; the top-k of its drafts are
        kept for when their level comes."""
        values, tokens = torch.topk(logits, min(self.top_k, logits.shape[-1]), dim=-1)
        computed = [k for k, path in enumerate(flat_paths) if isinstance(path, Path)]
        for k, path in enumerate(flat_paths):
            if not isinstance(path, Path):
                pos, key, slot = path
                self.drafted[pos, key] = (slot, values[k], tokens[k])
        index = torch.tensor(computed)
        self._candidates(candidates, [flat_paths[k] for k in computed], values[index],
                         tokens[index])

    def _candidates(self, candidates: Candidates, paths: list[Path], values: torch.Tensor,
                    tokens: torch.Tensor) -> None:
        """Adds each path's top-k children: (path, token, its mass times the token's share)."""
        q = torch.softmax(values.double() / self.temperature, -1).numpy()
        mass = np.array([path.prob for path in paths])[:, None]
        candidates.add(paths, tokens.numpy(), mass * q)

    def _draft(self, path: Path, size: int) -> list[int]:
        # none past the depth where paths end
        return repeat_draft(path.tokens, min(size, self.max_new_tokens - 1 - len(path.tokens)))

    def _gather(self, needed: list[int]) -> tuple[Own, Grid]:
        """A batch of own caches for chunk positions `needed`, copied from where each was
        last computed."""
        fills = [self.where[pos][0].fills[self.where[pos][1]] for pos in needed]
        layers = len(self.where[needed[0]][0].k)
        shape = (len(needed), self.net.kv_heads, max(fills) + 8, self.net.head_dim)
        k = [self.net.cache_tensor(shape) for _ in range(layers)]
        v = [self.net.cache_tensor(shape) for _ in range(layers)]
        prompt = torch.zeros((len(needed), shape[2]), dtype=torch.bool)
        sources: dict[int, tuple[Own, list[int], list[int]]] = {}
        for r, pos in enumerate(needed):
            source, row = self.where[pos]
            sources.setdefault(id(source), (source, [], []))
            sources[id(source)][1].append(r)
            sources[id(source)][2].append(row)
        for source, dest, rows in sources.values():
            dest_idx, row_idx = torch.tensor(dest), torch.tensor(rows)
            used = max(source.fills[row] for row in rows)
            for layer in range(layers):
                k[layer][dest_idx, :, :used] = source.k[layer][row_idx, :, :used]
                v[layer][dest_idx, :, :used] = source.v[layer][row_idx, :, :used]
            prompt[dest_idx, :used] = source.prompt_slots[row_idx, :used]
        own = Own(k, v, fills, prompt, list(needed))
        return own, self.grid.select(torch.tensor(needed))
