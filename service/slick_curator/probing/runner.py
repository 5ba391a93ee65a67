"""Runs the SliCK protocol for a batch of rows against one engine.

`Prober.probe` takes one shard of rows and returns one `RowResult` per row. It sends the
engine large batches (all greedy prompts of the shard at once, then every sampling round at
once) because batching across rows is where throughput comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import math

from slick_curator.engines.base import Engine, GenerationRequest, SamplingParams, ScoreRequest
from slick_curator.engines.streams import stream_key
from slick_curator.probing.categories import Category, categorize
from slick_curator.probing.matching import Matcher
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.prompts import ExemplarPool, row_prompts
from slick_curator.probing.records import Example


@dataclass
class RowResult:
    """What the probe found for one row.

    In adaptive mode `n_samples` counts the samples actually drawn: 0 when greedy answers
    already decide the category, fewer than n_prompts * n_samples when sampling stopped at
    the first correct sample. `p_sample` is then None (it would not be the paper's estimate).
    """

    row: int
    category: Category
    greedy_answers: list[str]
    greedy_correct: list[bool]
    n_sample_correct: int
    n_samples: int
    sampling_complete: bool
    exemplar_ids: list[list[str]]
    exemplar_sets: list[int] = field(default_factory=list)
    prompts: list[str] | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    p_sample_estimate: float | None = None  # fast mode: expected P_sample, nothing sampled

    @property
    def n_greedy(self) -> int:
        return len(self.greedy_answers)

    @property
    def n_greedy_correct(self) -> int:
        return sum(self.greedy_correct)

    @property
    def p_greedy(self) -> float:
        return self.n_greedy_correct / self.n_greedy

    @property
    def p_sample(self) -> float | None:
        if self.p_sample_estimate is not None:
            return self.p_sample_estimate
        if not self.sampling_complete or self.n_samples == 0:
            return None
        return self.n_sample_correct / self.n_samples


@dataclass
class _RowState:
    example: Example
    matcher: Matcher
    prompts: list[str]
    exemplar_ids: list[list[str]]
    exemplar_sets: list[int]
    stream: int  # the row's random stream; prompt i's samples draw from stream_key(stream, i)
    greedy_answers: list[str] = field(default_factory=list)
    greedy_correct: list[bool] = field(default_factory=list)
    n_sample_correct: int = 0
    n_samples: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0


class Prober:
    """Probes rows with one engine, one exemplar pool and one set of parameters."""

    def __init__(self, engine: Engine, params: ProbeParams, pool: ExemplarPool) -> None:
        self.engine = engine
        self.params = params
        self.pool = pool
        self._greedy = SamplingParams(
            temperature=0.0, n=1, max_new_tokens=params.max_new_tokens, stop=("\n",)
        )
        self._sampling = SamplingParams(
            temperature=params.temperature,
            top_k=params.top_k,
            n=params.n_samples,
            max_new_tokens=params.max_new_tokens,
            stop=("\n",),
        )

    def probe(
        self,
        examples: Sequence[Example],
        on_generated: Callable[[int], None] | None = None,
        on_rows: Callable[[int], None] | None = None,
    ) -> list[RowResult]:
        """Probe a shard of rows; results come back in the order of `examples`.

        For progress inside long shards: `on_generated(n)` hears how many generations each
        engine call finished, `on_rows(n)` how many more rows have their category decided
        (adaptive mode decides known rows right after the greedy pass).
        """
        states = [self._prepare(example) for example in examples]
        if self.params.mode == "fast":
            results = [self._score_fast(state) for state in self._run_scoring(states)]
            if on_rows:
                on_rows(len(states))
            return results
        self._run_greedy(states, on_generated)
        decided = self._report_decided(states, 0, on_rows)
        for prompt_index in range(self.params.n_prompts):
            if not self._run_sampling_round(states, prompt_index, on_generated):
                break
            decided = self._report_decided(states, decided, on_rows)
        if on_rows and len(states) > decided:
            on_rows(len(states) - decided)
        return [self._finish(state) for state in states]

    def _report_decided(self, states, already: int, on_rows) -> int:
        if self.params.mode == "full":
            return already
        decided = sum(1 for s in states if not self._needs_sampling(s))
        if on_rows and decided > already:
            on_rows(decided - already)
        return decided

    def _prepare(self, example: Example) -> _RowState:
        render = self.engine.render_chat if self.params.prompt_format == "chat" else None
        built = row_prompts(
            example, self.pool, prompt_format=self.params.prompt_format, render_chat=render
        )
        return _RowState(
            example,
            Matcher(example.answers, self.params.match),
            built.prompts,
            built.exemplar_ids,
            built.sets,
            row_stream(self.params.seed, example),
        )

    def _request(
        self, state: _RowState, index: int, params: SamplingParams, hopeless=None
    ) -> GenerationRequest:
        return GenerationRequest(
            state.prompts[index],
            params,
            hopeless=hopeless,
            seed=stream_key(state.stream, index),
            # a chat template writes the special tokens (BOS) itself
            add_special_tokens=self.params.prompt_format != "chat",
        )

    def _run_greedy(self, states: list[_RowState], on_generated) -> None:
        requests = [
            self._request(s, i, self._greedy) for s in states for i in range(len(s.prompts))
        ]
        results = iter(self.engine.generate(requests))
        for state in states:
            for _ in state.prompts:
                result = next(results)
                answer = result.texts[0].strip()
                state.greedy_answers.append(answer)
                state.greedy_correct.append(state.matcher(answer))
                state.prompt_tokens += result.prompt_tokens
                state.generated_tokens += result.generated_tokens
        if on_generated:
            on_generated(len(requests))

    def _needs_sampling(self, state: _RowState) -> bool:
        if self.params.mode == "full":
            return True
        # Adaptive: a correct greedy answer already decides HighlyKnown/MaybeKnown, and one
        # correct sample decides WeaklyKnown.
        return not any(state.greedy_correct) and state.n_sample_correct == 0

    def _run_sampling_round(self, states: list[_RowState], prompt_index: int, on_generated) -> bool:
        """Sample prompt `prompt_index` of every undecided row; False when none is left."""
        active = [s for s in states if self._needs_sampling(s)]
        if not active:
            return False
        requests = [
            self._request(
                s,
                prompt_index,
                self._sampling,
                s.matcher.hopeless if self.params.prune_samples else None,
            )
            for s in active
        ]
        for state, result in zip(active, self.engine.generate(requests), strict=True):
            state.n_samples += len(result.texts)
            state.n_sample_correct += sum(
                1
                for text, pruned in zip(result.texts, result.pruned, strict=True)
                if not pruned and state.matcher(text.strip())
            )
            state.prompt_tokens += result.prompt_tokens
            state.generated_tokens += result.generated_tokens
        if on_generated:
            on_generated(len(requests) * self._sampling.n)
        return True

    def _run_scoring(self, states: list[_RowState]):
        """Fast mode: teacher-force every alias under every prompt, in one engine call."""
        lead = " " if self.params.prompt_format == "plain" else ""
        requests = [
            ScoreRequest(
                prompt,
                tuple(lead + alias for alias in s.example.answers),
                temperature=self.params.temperature,
                top_k=self.params.top_k,
                add_special_tokens=self.params.prompt_format != "chat",
            )
            for s in states
            for prompt in s.prompts
        ]
        scores = iter(self.engine.score(requests))
        for state in states:
            yield state, [next(scores) for _ in state.prompts]

    def _score_fast(self, item) -> RowResult:
        """Fast-mode categories: greedy-correct prompts decide as usual; with none, the row is
        WeaklyKnown when the full protocol's samples would more likely than not hit a gold."""
        state, per_prompt = item
        greedy_correct, p_hit = [], []
        for scores in per_prompt:
            hit = [i for i, score in enumerate(scores) if score.greedy]
            greedy_correct.append(bool(hit))
            # the answer as greedy decoding writes it (an alias), or None: not generated
            state.greedy_answers.append(state.example.answers[hit[0]] if hit else None)
            p_hit.append(min(1.0, sum(score.probability for score in scores)))
        p_sample = sum(p_hit) / len(p_hit)
        if any(greedy_correct):
            category = categorize(sum(greedy_correct), len(greedy_correct), 0, 0)
        else:
            p_miss_all = math.prod((1.0 - p) ** self.params.n_samples for p in p_hit)
            category = Category.WEAKLY_KNOWN if 1.0 - p_miss_all >= 0.5 else Category.UNKNOWN
        return RowResult(
            row=state.example.row,
            category=category,
            greedy_answers=state.greedy_answers,
            greedy_correct=greedy_correct,
            n_sample_correct=0,
            n_samples=0,
            sampling_complete=False,
            exemplar_ids=state.exemplar_ids,
            exemplar_sets=state.exemplar_sets,
            prompts=state.prompts if self.params.keep_prompts else None,
            p_sample_estimate=p_sample,
        )

    def _finish(self, state: _RowState) -> RowResult:
        n_greedy_correct = sum(state.greedy_correct)
        complete = state.n_samples == self.params.n_prompts * self.params.n_samples
        if complete or n_greedy_correct or state.n_sample_correct:
            category = categorize(
                n_greedy_correct, len(state.greedy_correct), state.n_sample_correct,
                state.n_samples,
            )
        else:  # pragma: no cover - adaptive always samples undecided rows to completion
            raise AssertionError(f"row {state.example.row} left undecided")
        return RowResult(
            row=state.example.row,
            category=category,
            greedy_answers=state.greedy_answers,
            greedy_correct=state.greedy_correct,
            n_sample_correct=state.n_sample_correct,
            n_samples=state.n_samples,
            sampling_complete=complete,
            exemplar_ids=state.exemplar_ids,
            exemplar_sets=state.exemplar_sets,
            prompts=state.prompts if self.params.keep_prompts else None,
            prompt_tokens=state.prompt_tokens,
            generated_tokens=state.generated_tokens,
        )


def row_stream(seed: int, example: Example) -> int:
    """A row's random stream, keyed by the seed and the row's content (group, question, gold
    answers), never its position: `--limit`, shards and resumes leave it unchanged."""
    return stream_key("slick-row", seed, example.group, example.question, *example.answers)
