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
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from slick_curator.probing.records import Example

RenderChat = Callable[[Sequence[dict[str, str]]], str]

# Exhaustive listing of a group's possible sets (then shuffled) below this many; rejection
# sampling of distinct sets above it.
_ENUMERATE_BELOW = 256


class ExemplarError(ValueError):
    """The exemplar pool cannot supply the requested number of exemplars for a group."""


def question_key(question: str) -> str:
    """Questions that differ only in case or spacing are the same question."""
    return " ".join(question.casefold().split())


@dataclass
class _GroupPool:
    """The exemplar sets of one group: `sets[:n_prompts]` are the main sets, then spares.

    Spares are drawn on demand from the group's own random stream, so set j is the same
    whichever rows asked for it first.
    """

    candidates: tuple[Example, ...]  # one per distinct question, first occurrence
    keys: tuple[str, ...]  # question key of each candidate
    size: int  # exemplars per set
    rng: random.Random
    sets: list[tuple[int, ...]] = field(default_factory=list)  # indices into candidates
    n_main: int = 0  # distinct main sets: n_prompts, or fewer in a small group (they repeat)
    _seen: set[frozenset[int]] = field(default_factory=set)
    _listing: list[tuple[int, ...]] | None = None  # every possible set, when few

    @property
    def possible(self) -> int:
        return math.comb(len(self.candidates), self.size)

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
                listing = [
                    list(c) for c in itertools.combinations(range(len(self.candidates)), self.size)
                ]
                self.rng.shuffle(listing)
                for members in listing:
                    self.rng.shuffle(members)
                self._listing = [tuple(m) for m in listing]
            drawn = self._listing[len(self._seen)]
        else:
            while True:
                drawn = tuple(self.rng.sample(range(len(self.candidates)), self.size))
                if frozenset(drawn) not in self._seen:
                    break
        self._seen.add(frozenset(drawn))
        return drawn

    def contains(self, index: int, key: str) -> bool:
        return any(self.keys[i] == key for i in self.sets[index])


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
    after a crash) builds exactly the same prompts.
    """

    def __init__(
        self, examples: Sequence[Example], *, n_prompts: int, k_shot: int, seed: int
    ) -> None:
        self.n_prompts = n_prompts
        self.k_shot = k_shot
        by_group: dict[str, dict[str, Example]] = defaultdict(dict)
        for example in examples:  # the first row of each distinct question
            by_group[example.group].setdefault(question_key(example.question), example)
        self._pools = {
            group: _GroupPool(
                tuple(members.values()),
                tuple(members),
                min(k_shot, len(members)),
                random.Random(f"slick:{seed}:{group}"),
            )
            for group, members in by_group.items()
        }
        for pool in self._pools.values():
            for index in range(n_prompts):
                pool.set(index)
            pool.n_main = len(pool.sets)

    @property
    def groups(self) -> list[str]:
        return sorted(self._pools)

    def check(self, examples: Sequence[Example]) -> None:
        """Fail early, naming the group, if some row cannot get k_shot distinct exemplars."""
        for group in sorted({e.group for e in examples}):
            pool = self._pools.get(group)
            if pool is None:
                if self.k_shot == 0:
                    continue
                raise ExemplarError(
                    f"group {group!r} has no exemplars; available groups: "
                    f"{', '.join(self.groups) or 'none'}"
                )
            own_keys = {question_key(e.question) for e in examples if e.group == group}
            usable = set(pool.keys)
            # The worst row loses its own question from the pool.
            if len(usable) - (1 if own_keys & usable else 0) < self.k_shot:
                raise ExemplarError(
                    f"group {group!r} has {len(usable)} distinct exemplar questions; "
                    f"k_shot={self.k_shot} needs at least {self.k_shot + 1} when rows are drawn "
                    "from the same file. Use fewer shots, a larger group, or an exemplar file."
                )

    def warnings(self, examples: Sequence[Example]) -> list[str]:
        """Groups whose rows cannot all get `n_prompts` distinct exemplar sets."""
        out = []
        for group in sorted({e.group for e in examples}):
            pool = self._pools.get(group)
            if pool is None or self.k_shot == 0:
                continue
            shared = {question_key(e.question) for e in examples if e.group == group}
            # Sets that leave out a question in the pool: C(m - 1, k) of them.
            m = len(pool.candidates)
            free = math.comb(m - 1, pool.size) if shared & set(pool.keys) else pool.possible
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
        pool = self._pools[example.group]
        key = question_key(example.question)
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
        return [[pool.candidates[i] for i in members] for members in pool.sets]

    def exemplars_for(self, example: Example) -> list[list[Example]]:
        """The `n_prompts` exemplar lists for one row, none sharing the row's question."""
        if self.k_shot == 0:
            return [[] for _ in range(self.n_prompts)]
        pool = self._pools[example.group]
        key = question_key(example.question)
        return [
            [pool.candidates[i] for i in pool.sets[index] if pool.keys[i] != key]
            for index in self.set_indices(example)
        ]


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
        if prompt_format == "chat":
            prompts.append(render_chat(chat_messages(exemplars, example.question,
                                                     example.context)))
        else:
            prompts.append(plain_prompt(exemplars, example.question, example.context))
        ids.append([exemplar_id(e) for e in exemplars])
    return RowPrompts(prompts, ids, pool.set_indices(example))


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
