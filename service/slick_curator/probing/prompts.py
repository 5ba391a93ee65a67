"""Few-shot prompts: exemplar sets per group, and the prompt texts built from them.

Each group gets `n_prompts` distinct exemplar sets, drawn once with a fixed seed and reused by
every row of the group, so prompts share prefixes (the engines cache those). A row whose
question is in set i takes the group's first spare set (also drawn once per group) that
leaves it out instead; spares are shared by every row that needs one, so their prefixes are
shared too. A row's prompts are a function of the pool, its group, the seed and its question
only: never of which rows are probed with it, `--limit` or shard boundaries.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from slick_curator.probing.records import Example
from slick_curator.probing.row_index import KEY, RowIndex, key_digest, question_key

__all__ = ["ExemplarError", "ExemplarPool", "RowPrompts", "build_prompts", "chat_messages",
           "exemplar_id", "plain_prompt", "question_key", "row_prompts"]

RenderChat = Callable[[Sequence[dict[str, str]]], str]
# The exemplar source's rows at these positions (the pool holds positions, not rows).
Fetch = Callable[[Sequence[int]], list[Example]]
# A pool group's first row of each distinct question: (positions in the source, digests).
PoolIndex = Mapping[str, tuple[np.ndarray, np.ndarray]]

# Exhaustive listing of a group's possible sets (then shuffled) below this many; rejection
# sampling of distinct sets above it.
_ENUMERATE_BELOW = 256


class ExemplarError(ValueError):
    """The exemplar pool cannot supply the requested number of exemplars for a group."""


@dataclass
class _GroupPool:
    """The exemplar sets of one group: `sets[:n_prompts]` are the main sets, then spares.

    Candidates are the group's distinct questions (first occurrence), known by position and
    digest; a candidate's row is fetched when a drawn set first needs it. Spares are drawn on
    demand from the group's own random stream, so set j is the same whichever rows asked for
    it first.
    """

    positions: np.ndarray  # source position of each candidate
    keys: np.ndarray  # question digest of each candidate
    size: int  # exemplars per set
    rng: random.Random
    fetch: Fetch
    sets: list[tuple[int, ...]] = field(default_factory=list)  # indices into candidates
    n_main: int = 0  # distinct main sets: n_prompts, or fewer in a small group (they repeat)
    _seen: set[frozenset[int]] = field(default_factory=set)
    _listing: list[tuple[int, ...]] | None = None  # every possible set, when few
    _rows: dict[int, Example] = field(default_factory=dict)  # fetched candidates

    @property
    def count(self) -> int:
        return len(self.positions)

    @property
    def possible(self) -> int:
        return math.comb(self.count, self.size)

    def set(self, index: int) -> tuple[int, ...] | None:
        """Set `index`, drawing more sets as needed; None once every distinct set is drawn."""
        while len(self.sets) <= index:
            drawn = self._draw()
            if drawn is None:
                return None
            self.sets.append(drawn)
        return self.sets[index]

    def _draw(self) -> tuple[int, ...] | None:
        if len(self._seen) >= self.possible:
            return None
        if self.possible <= _ENUMERATE_BELOW:
            if self._listing is None:
                listing = [list(c) for c in itertools.combinations(range(self.count), self.size)]
                self.rng.shuffle(listing)
                for members in listing:
                    self.rng.shuffle(members)
                self._listing = [tuple(m) for m in listing]
            drawn = self._listing[len(self._seen)]
        else:
            while True:
                drawn = tuple(self.rng.sample(range(self.count), self.size))
                if frozenset(drawn) not in self._seen:
                    break
        self._seen.add(frozenset(drawn))
        return drawn

    def contains(self, index: int, key: np.void) -> bool:
        return any(self.keys[i] == key for i in self.sets[index])

    def missing(self, indices: Sequence[int]) -> list[int]:
        """Candidates among `indices` not fetched yet."""
        return sorted({i for i in indices if i not in self._rows})

    def fetched(self, indices: Sequence[int], rows: Sequence[Example]) -> None:
        self._rows.update(zip(indices, rows, strict=True))

    def __getstate__(self) -> dict:
        # Sent to another process (a Ray actor), the pool cannot read the source there: it
        # takes every candidate's row with it, as pools held them before they fetched.
        state = self.__dict__.copy()
        every = self.rows(range(self.count))
        state["fetch"] = _Held(dict(zip(self.positions.tolist(), every, strict=True)))
        return state

    def rows(self, indices: Sequence[int]) -> list[Example]:
        """The candidates' rows, fetched in one call where some are not yet."""
        missing = self.missing(indices)
        if missing:
            self.fetched(missing, self.fetch([int(self.positions[i]) for i in missing]))
        return [self._rows[i] for i in indices]


class _Held:
    """A fetch over rows held in memory, by source position."""

    def __init__(self, rows: dict[int, Example]) -> None:
        self.rows = rows

    def __call__(self, positions: Sequence[int]) -> list[Example]:
        return [self.rows[p] for p in positions]


@dataclass(frozen=True)
class RowPrompts:
    """A row's prompt texts and, per prompt, its exemplar set (index in the group's sets)
    and the ids of the exemplars in it."""

    prompts: list[str]
    exemplar_ids: list[list[str]]
    sets: list[int]


class ExemplarPool:
    """Draws the exemplar sets of every group.

    `examples` is where exemplars come from: the probed dataset itself or a separate file
    (the paper used the dev split). Exemplar sets depend only on the pool, the group and the
    seed, never on which rows are probed together, so a probe split into shards (or resumed
    after a crash) builds exactly the same prompts. `from_index` builds the same pool from a
    `RowIndex` of the source, holding positions instead of rows.
    """

    def __init__(
        self, examples: Sequence[Example], *, n_prompts: int, k_shot: int, seed: int
    ) -> None:
        index = RowIndex.build(examples, override="short")  # kinds are not needed here
        self._setup({index.groups[code]: entry
                     for code, entry in index.distinct(index.codes).items()},
                    lambda positions: [examples[p] for p in positions],
                    n_prompts=n_prompts, k_shot=k_shot, seed=seed)

    @classmethod
    def from_index(cls, index: PoolIndex, fetch: Fetch, *, n_prompts: int, k_shot: int,
                   seed: int) -> ExemplarPool:
        """The pool of the groups in `index`, whose rows `fetch` returns by position."""
        pool = cls.__new__(cls)
        pool._setup(index, fetch, n_prompts=n_prompts, k_shot=k_shot, seed=seed)
        return pool

    def _setup(self, index: PoolIndex, fetch: Fetch, *, n_prompts: int, k_shot: int,
               seed: int) -> None:
        self.n_prompts = n_prompts
        self.k_shot = k_shot
        self._pools = {
            group: _GroupPool(positions, keys, min(k_shot, len(positions)),
                              random.Random(f"slick:{seed}:{group}"), fetch)
            for group, (positions, keys) in index.items()
        }
        for pool in self._pools.values():
            for index_ in range(n_prompts):
                pool.set(index_)
            pool.n_main = len(pool.sets)
        self._prefetch_main_sets(fetch)

    def _prefetch_main_sets(self, fetch: Fetch) -> None:
        """Every main set's rows in one fetch (a stored source reads each part once)."""
        wanted = [(pool, pool.missing([i for members in pool.sets for i in members]))
                  for pool in self._pools.values()]
        positions = [int(pool.positions[i]) for pool, indices in wanted for i in indices]
        rows = iter(fetch(positions) if positions else [])
        for pool, indices in wanted:
            pool.fetched(indices, [next(rows) for _ in indices])

    @property
    def groups(self) -> list[str]:
        return sorted(self._pools)

    def check(self, probed: Sequence[Example] | Mapping[str, np.ndarray]) -> None:
        """Fail early, naming the group, if some row cannot get k_shot distinct exemplars.

        `probed`: the probed rows, or their question digests by pool group."""
        for group, keys in sorted(_keys_by_group(probed).items()):
            pool = self._pools.get(group)
            if pool is None:
                if self.k_shot == 0:
                    continue
                raise ExemplarError(
                    f"group {group!r} has no exemplars; available groups: "
                    f"{', '.join(self.groups) or 'none'}"
                )
            # The worst row loses its own question from the pool.
            if pool.count - (1 if _shares_a_question(keys, pool) else 0) < self.k_shot:
                raise ExemplarError(
                    f"group {group!r} has {pool.count} distinct exemplar questions; "
                    f"k_shot={self.k_shot} needs at least {self.k_shot + 1} when rows are drawn "
                    "from the same file. Use fewer shots, a larger group, or an exemplar file."
                )

    def warnings(self, probed: Sequence[Example] | Mapping[str, np.ndarray]) -> list[str]:
        """Groups whose rows cannot all get `n_prompts` distinct exemplar sets."""
        out = []
        for group, keys in sorted(_keys_by_group(probed).items()):
            pool = self._pools.get(group)
            if pool is None or self.k_shot == 0:
                continue
            # Sets that leave out a question in the pool: C(m - 1, k) of them.
            m = pool.count
            free = math.comb(m - 1, pool.size) if _shares_a_question(keys, pool) else pool.possible
            if free < self.n_prompts:
                out.append(
                    f"group {group!r}: {m} distinct exemplar questions allow only {free} "
                    f"distinct sets of {pool.size} per row; its rows repeat exemplar sets "
                    f"across their {self.n_prompts} prompts"
                )
        return out

    def set_indices(self, example: Example) -> list[int]:
        """The exemplar set (index in the group's sets) of each of the row's prompts.

        Set i, unless it holds the row's question; then the first spare that leaves the
        question out and is not used yet; when the group has no such spare left, the least
        used set that leaves it out (a small group: see `warnings`).
        """
        if self.k_shot == 0:
            return [-1] * self.n_prompts
        return self._set_indices(self._pools[example.group], key_digest(example.question))

    def _set_indices(self, pool: _GroupPool, key: np.void) -> list[int]:
        chosen: list[int] = []
        spare = pool.n_main
        for position in range(self.n_prompts):
            index = position % pool.n_main
            if not pool.contains(index, key) and index not in chosen:
                chosen.append(index)
                continue
            while pool.set(spare) is not None:
                spare += 1
                if not pool.contains(spare - 1, key):
                    chosen.append(spare - 1)
                    break
            else:
                allowed = [j for j in range(len(pool.sets)) if not pool.contains(j, key)]
                # No set leaves the question out (only without `check`): exemplars_for drops
                # it from set i, and the prompt has one exemplar fewer.
                chosen.append(
                    min(allowed, key=lambda j: (chosen.count(j), j)) if allowed else index
                )
        return chosen

    def exemplar_sets(self, group: str) -> list[list[Example]]:
        """Every set drawn so far for `group` (main sets first, then spares)."""
        pool = self._pools.get(group)
        if pool is None:
            return []
        pool.rows([i for members in pool.sets for i in members])
        return [pool.rows(members) for members in pool.sets]

    def exemplars_for(self, example: Example) -> list[list[Example]]:
        """The `n_prompts` exemplar lists for one row, none sharing the row's question."""
        if self.k_shot == 0:
            return [[] for _ in range(self.n_prompts)]
        pool = self._pools[example.group]
        key = key_digest(example.question)
        return [
            pool.rows([i for i in pool.sets[index] if pool.keys[i] != key])
            for index in self._set_indices(pool, key)
        ]


def _keys_by_group(probed: Sequence[Example] | Mapping[str, np.ndarray]
                   ) -> Mapping[str, np.ndarray]:
    if isinstance(probed, Mapping):
        return probed
    out: dict[str, list[np.void]] = {}
    for example in probed:
        out.setdefault(example.group, []).append(key_digest(example.question))
    return {group: np.array(keys, dtype=KEY) for group, keys in out.items()}


def _shares_a_question(keys: np.ndarray, pool: _GroupPool) -> bool:
    return bool(len(keys) and pool.count and np.isin(keys, pool.keys).any())


def exemplar_id(example: Example) -> str:
    """How result files name an exemplar: its id, or its row number in the exemplar source."""
    return example.id if example.id is not None else f"row:{example.row}"


Context = Sequence[tuple[str, str]]


def plain_prompt(exemplars: Sequence[Example], question: str, context: Context = ()) -> str:
    """`Q: …\\nA: …` lines for base models; the answer is generated after the final `A:`.

    A chat row's `context` goes around the exemplars: its system text first, its earlier
    exchanges as Q/A lines right before the question."""
    system = "".join(f"{text}\n\n" for role, text in context if role == "system")
    shots = "".join(f"Q: {e.question}\nA: {e.answers[0]}\n\n" for e in exemplars)
    earlier = "".join(f"Q: {text}\n" if role == "user" else f"A: {text}\n\n"
                      for role, text in context if role != "system")
    return f"{system}{shots}{earlier}Q: {question}\nA:"


def chat_messages(exemplars: Sequence[Example], question: str,
                  context: Context = ()) -> list[dict[str, str]]:
    """Exemplars as earlier user/assistant turns, the question as the last user turn; a chat
    row's system turn goes first and its earlier turns right before the question."""
    messages = [{"role": role, "content": text} for role, text in context if role == "system"]
    for e in exemplars:
        messages.append({"role": "user", "content": e.question})
        messages.append({"role": "assistant", "content": e.answers[0]})
    messages += [{"role": role, "content": text} for role, text in context if role != "system"]
    messages.append({"role": "user", "content": question})
    return messages


def row_prompts(
    example: Example,
    pool: ExemplarPool,
    *,
    prompt_format: str = "plain",
    render_chat: RenderChat | None = None,
) -> RowPrompts:
    """The row's prompt texts, exemplar sets and exemplar ids."""
    if prompt_format == "chat" and render_chat is None:
        raise ValueError("prompt_format 'chat' needs an engine with a chat template")
    prompts, ids = [], []
    for exemplars in pool.exemplars_for(example):
        prompts.append(prompt_text(exemplars, example.question, example.context,
                                   prompt_format=prompt_format, render_chat=render_chat))
        ids.append([exemplar_id(e) for e in exemplars])
    return RowPrompts(prompts, ids, pool.set_indices(example))


def prompt_text(exemplars: Sequence[Example], question: str, context: Context = (), *,
                prompt_format: str = "plain", render_chat: RenderChat | None = None) -> str:
    """One prompt: `plain_prompt`, or `chat_messages` rendered by `render_chat`."""
    if prompt_format == "chat":
        return render_chat(chat_messages(exemplars, question, context))
    return plain_prompt(exemplars, question, context)


def build_prompts(
    example: Example,
    pool: ExemplarPool,
    *,
    prompt_format: str = "plain",
    render_chat: RenderChat | None = None,
) -> tuple[list[str], list[list[str]]]:
    """The row's prompt texts and, per prompt, the ids of the exemplars it used."""
    built = row_prompts(example, pool, prompt_format=prompt_format, render_chat=render_chat)
    return built.prompts, built.exemplar_ids
