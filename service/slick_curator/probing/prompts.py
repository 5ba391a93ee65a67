"""Few-shot prompts: exemplar sets per group, and the prompt texts built from them.

Each group gets `n_prompts` exemplar sets drawn once with a fixed seed and reused by every row
of the group, so prompts share prefixes (the engines cache those). A set that holds the row's
own question is patched with a replacement from the same group, drawn deterministically.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from slick_curator.probing.records import Example

RenderChat = Callable[[Sequence[dict[str, str]]], str]


class ExemplarError(ValueError):
    """The exemplar pool cannot supply the requested number of exemplars for a group."""


def _question_key(question: str) -> str:
    return " ".join(question.casefold().split())


@dataclass(frozen=True)
class _GroupPool:
    candidates: tuple[Example, ...]
    sets: tuple[tuple[int, ...], ...]  # indices into candidates, one tuple per prompt
    backups: tuple[int, ...]  # a fixed shuffled order used to patch sets


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
        by_group: dict[str, list[Example]] = defaultdict(list)
        for example in examples:
            by_group[example.group].append(example)
        self._pools = {
            group: self._draw(group, tuple(members), seed) for group, members in by_group.items()
        }

    def _draw(self, group: str, members: tuple[Example, ...], seed: int) -> _GroupPool:
        rng = random.Random(f"slick:{seed}:{group}")
        size = min(self.k_shot, len(members))
        sets = tuple(
            tuple(rng.sample(range(len(members)), size)) for _ in range(self.n_prompts)
        )
        backups = list(range(len(members)))
        rng.shuffle(backups)
        return _GroupPool(members, sets, tuple(backups))

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
            own_keys = {_question_key(e.question) for e in examples if e.group == group}
            usable = {_question_key(c.question) for c in pool.candidates}
            # The worst row loses its own question from the pool.
            if len(usable) - (1 if own_keys & usable else 0) < self.k_shot:
                raise ExemplarError(
                    f"group {group!r} has {len(usable)} distinct exemplar questions; "
                    f"k_shot={self.k_shot} needs at least {self.k_shot + 1} when rows are drawn "
                    "from the same file. Use fewer shots, a larger group, or an exemplar file."
                )

    def exemplars_for(self, example: Example) -> list[list[Example]]:
        """The `n_prompts` exemplar lists for one row, none sharing the row's question."""
        if self.k_shot == 0:
            return [[] for _ in range(self.n_prompts)]
        pool = self._pools[example.group]
        key = _question_key(example.question)
        result = []
        for chosen in pool.sets:
            picked: list[int] = []
            taken = {key}
            for i in chosen:  # drop the row's own question and repeated questions
                candidate_key = _question_key(pool.candidates[i].question)
                if candidate_key not in taken:
                    picked.append(i)
                    taken.add(candidate_key)
            for i in pool.backups:
                if len(picked) == len(chosen):
                    break
                candidate_key = _question_key(pool.candidates[i].question)
                if i not in picked and candidate_key not in taken:
                    picked.append(i)
                    taken.add(candidate_key)
            result.append([pool.candidates[i] for i in picked])
        return result


def exemplar_id(example: Example) -> str:
    """How result files name an exemplar: its id, or its row number in the exemplar source."""
    return example.id if example.id is not None else f"row:{example.row}"


def plain_prompt(exemplars: Sequence[Example], question: str) -> str:
    """`Q: …\\nA: …` lines for base models; the answer is generated after the final `A:`."""
    shots = "".join(f"Q: {e.question}\nA: {e.answers[0]}\n\n" for e in exemplars)
    return f"{shots}Q: {question}\nA:"


def chat_messages(exemplars: Sequence[Example], question: str) -> list[dict[str, str]]:
    """Exemplars as earlier user/assistant turns, the question as the last user turn."""
    messages: list[dict[str, str]] = []
    for e in exemplars:
        messages.append({"role": "user", "content": e.question})
        messages.append({"role": "assistant", "content": e.answers[0]})
    messages.append({"role": "user", "content": question})
    return messages


def build_prompts(
    example: Example,
    pool: ExemplarPool,
    *,
    prompt_format: str = "plain",
    render_chat: RenderChat | None = None,
) -> tuple[list[str], list[list[str]]]:
    """The row's prompt texts and, per prompt, the ids of the exemplars it used."""
    prompts, ids = [], []
    for exemplars in pool.exemplars_for(example):
        if prompt_format == "chat":
            if render_chat is None:
                raise ValueError("prompt_format 'chat' needs an engine with a chat template")
            prompts.append(render_chat(chat_messages(exemplars, example.question)))
        else:
            prompts.append(plain_prompt(exemplars, example.question))
        ids.append([exemplar_id(e) for e in exemplars])
    return prompts, ids
