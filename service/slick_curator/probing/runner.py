"""Runs the SliCK protocol for a batch of rows against one engine.

`Prober.probe` takes one shard of rows and returns one `RowResult` per row. It sends the
engine large batches (all greedy prompts of the shard at once, then every sampling round at
once) because batching across rows is where throughput comes from.

The protocol runs on *units*: a short-form row is one unit (its whole answer); a free-form row
is one unit per fact, each probed at the fact's position (the prompt, then the answer up to the
fact; `fact_matching` judges the continuation). Adaptive stopping and pruning apply per unit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from slick_curator.engines.base import (
    Engine,
    GenerationRequest,
    SamplingParams,
    ScoreRequest,
    SpanScoreRequest,
)
from slick_curator.engines.stream_keys import stream_key
from slick_curator.probing.aggregate import least_known
from slick_curator.probing.answer_kind import example_kind
from slick_curator.probing.categories import Category, categorize
from slick_curator.probing.fact_matching import FactMatcher, SentenceMatcher
from slick_curator.probing.facts import AnswerFacts, Fact, FactExtractor
from slick_curator.probing.matching import Matcher
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.prompts import ExemplarPool, RowPrompts, row_prompts
from slick_curator.probing.records import Example


def _p_sample(result: FactResult | RowResult) -> float | None:
    """The paper's P_sample, or fast mode's estimate; None where sampling stopped early."""
    if result.p_sample_estimate is not None:
        return result.p_sample_estimate
    if not result.sampling_complete or result.n_samples == 0:
        return None
    return result.n_sample_correct / result.n_samples


@dataclass
class FactResult:
    """What the probe found for one fact of a free-form answer (offsets into the answer)."""

    text: str
    start: int
    end: int
    label: str
    sentence: int  # index into RowResult.sentences; -1 when the fact straddles two
    category: Category
    greedy_answers: list[str]
    greedy_correct: list[bool]
    n_sample_correct: int
    n_samples: int
    sampling_complete: bool
    p_sample_estimate: float | None = None

    @property
    def p_greedy(self) -> float:
        return sum(self.greedy_correct) / len(self.greedy_correct)

    @property
    def p_sample(self) -> float | None:
        return _p_sample(self)


@dataclass
class RowResult:
    """What the probe found for one row.

    In adaptive mode `n_samples` counts the samples actually drawn: 0 when greedy answers
    already decide the category, fewer than n_prompts * n_samples when sampling stopped at
    the first correct sample. `p_sample` is then None (it would not be the paper's estimate).

    A free-form row (`answer_kind` "long") is probed fact by fact: `facts` holds each fact's
    result, and the row-level fields are those of its least-known fact (`aggregate.py`). A
    free-form row with no fact has `category` None (status ``no_facts``).
    """

    row: int
    category: Category | None
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
    answer_kind: str = "short"
    facts: list[FactResult] | None = None
    sentences: list[tuple[int, int]] | None = None
    exemplar_pool: str | None = None

    @property
    def n_greedy(self) -> int:
        return len(self.greedy_answers)

    @property
    def n_greedy_correct(self) -> int:
        return sum(self.greedy_correct)

    @property
    def p_greedy(self) -> float | None:
        if not self.greedy_correct:
            return None
        return self.n_greedy_correct / self.n_greedy

    @property
    def p_sample(self) -> float | None:
        return _p_sample(self)


@dataclass
class _Unit:
    """One thing probed with the SliCK protocol: a short answer, or one fact of a long one."""

    example: Example
    matcher: Matcher | FactMatcher
    prompts: list[str]
    stream: int  # prompt i's samples draw from stream_key(stream, i)
    fact: Fact | None = None
    continues: bool = False  # a fact opening a later sentence: the answer goes on there
    greedy_answers: list[str] = field(default_factory=list)
    greedy_correct: list[bool] = field(default_factory=list)
    n_sample_correct: int = 0
    n_samples: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    p_sample_estimate: float | None = None
    fast_category: Category | None = None


@dataclass
class _Row:
    example: Example
    kind: str
    prompts: RowPrompts
    pool_group: str
    units: list[_Unit]
    analysis: AnswerFacts | None = None


class Prober:
    """Probes rows with one engine, one exemplar pool and one set of parameters.

    `pool_group(example, kind)` names the exemplar pool group a row draws from (the pipeline
    keeps short- and free-form exemplars apart); by default the row's own group.
    `long_exemplars(example, kind)`: True where a short row may get free-form exemplar answers
    (then a sentence stating its gold counts too).
    """

    def __init__(
        self,
        engine: Engine,
        params: ProbeParams,
        pool: ExemplarPool,
        pool_group: Callable[[Example, str], str] | None = None,
        facts: FactExtractor | None = None,
        long_exemplars: Callable[[Example, str], bool] | None = None,
    ) -> None:
        self.engine = engine
        self.params = params
        self.pool = pool
        self.pool_group = pool_group or _own_group
        # whether a short row's exemplars may be free-form answers (see SentenceMatcher)
        self.long_exemplars = long_exemplars or _short_exemplars
        self._facts = facts
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

    @property
    def facts(self) -> FactExtractor:
        if self._facts is None:
            self._facts = FactExtractor(backend=self.params.fact_ner)
        return self._facts

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
        rows = self._prepare(examples)
        units = [unit for row in rows for unit in row.units]
        if self.params.mode == "fast":
            self._run_scoring(rows)
            if on_rows:
                on_rows(len(rows))
            return [self._finish(row) for row in rows]
        self._run_greedy(units, on_generated)
        decided = self._report_decided(rows, 0, on_rows)
        for prompt_index in range(self.params.n_prompts):
            if not self._run_sampling_round(units, prompt_index, on_generated):
                break
            decided = self._report_decided(rows, decided, on_rows)
        if on_rows and len(rows) > decided:
            on_rows(len(rows) - decided)
        return [self._finish(row) for row in rows]

    def _report_decided(self, rows: list[_Row], already: int, on_rows) -> int:
        if self.params.mode == "full":
            return already
        decided = sum(1 for row in rows if not any(map(self._needs_sampling, row.units)))
        if on_rows and decided > already:
            on_rows(decided - already)
        return decided

    def _prepare(self, examples: Sequence[Example]) -> list[_Row]:
        render = self.engine.render_chat if self.params.prompt_format == "chat" else None
        kinds = [example_kind(e, self.params.answer_kind) for e in examples]
        long_rows = [e for e, kind in zip(examples, kinds, strict=True) if kind == "long"]
        analyses = dict(
            zip(
                (e.row for e in long_rows),
                self.facts.analyse([e.answers[0] for e in long_rows], [e.question for e in long_rows])
                if long_rows
                else [],
                strict=True,
            )
        )
        rows = []
        for example, kind in zip(examples, kinds, strict=True):
            group = self.pool_group(example, kind)
            built = row_prompts(
                dataclasses.replace(example, group=group),
                self.pool,
                prompt_format=self.params.prompt_format,
                render_chat=render,
            )
            stream = row_stream(self.params.seed, example)
            if kind == "short":
                sentences = self.long_exemplars(example, kind)
                matcher = (SentenceMatcher if sentences else Matcher)(
                    example.answers, self.params.match
                )
                units = [_Unit(example, matcher, built.prompts, stream)]
                rows.append(_Row(example, kind, built, group, units))
                continue
            analysis = analyses[example.row]
            starts = {sentence.start for sentence in analysis.sentences}
            units = [self._fact_unit(example, built.prompts, stream, fact, fact.start in starts)
                     for fact in analysis.facts]
            rows.append(_Row(example, kind, built, group, units, analysis))
        return rows

    def _fact_unit(self, example: Example, prompts: list[str], stream: int, fact: Fact,
                   opens_sentence: bool) -> _Unit:
        answer = example.answers[0]
        # The model writes the space before the fact itself (BPE words carry it).
        head = answer[: fact.start].rstrip()
        lead = " " if self.params.prompt_format == "plain" else ""  # plain prompts end "A:"
        return _Unit(
            example,
            FactMatcher(fact.text, opening=opens_sentence or not head,
                        rule=self.params.fact_match),
            [prompt + (lead + head if head else "") for prompt in prompts],
            stream_key(stream, "fact", fact.start, fact.end),
            fact=fact,
            # After a complete sentence the model may end the answer; it does not end here.
            continues=opens_sentence and bool(head),
        )

    def _request(
        self, unit: _Unit, index: int, params: SamplingParams, hopeless=None
    ) -> GenerationRequest:
        return GenerationRequest(
            unit.prompts[index],
            params,
            hopeless=hopeless,
            seed=stream_key(unit.stream, index),
            # a chat template writes the special tokens (BOS) itself
            add_special_tokens=self.params.prompt_format != "chat",
            settled=getattr(unit.matcher, "settled", None),
            continues=unit.continues,
        )

    def _run_greedy(self, units: list[_Unit], on_generated) -> None:
        requests = [
            self._request(u, i, self._greedy) for u in units for i in range(len(u.prompts))
        ]
        results = iter(self.engine.generate(requests))
        for unit in units:
            for _ in unit.prompts:
                result = next(results)
                answer = result.texts[0].strip()
                unit.greedy_answers.append(answer)
                unit.greedy_correct.append(unit.matcher(answer))
                unit.prompt_tokens += result.prompt_tokens
                unit.generated_tokens += result.generated_tokens
        if on_generated:
            on_generated(len(requests))

    def _needs_sampling(self, unit: _Unit) -> bool:
        if self.params.mode == "full":
            return True
        if self.params.mode == "fast":
            return False
        # Adaptive: a correct greedy answer already decides HighlyKnown/MaybeKnown, and one
        # correct sample decides WeaklyKnown.
        return not any(unit.greedy_correct) and unit.n_sample_correct == 0

    def _run_sampling_round(self, units: list[_Unit], prompt_index: int, on_generated) -> bool:
        """Sample prompt `prompt_index` of every undecided unit; False when none is left."""
        active = [u for u in units if self._needs_sampling(u)]
        if not active:
            return False
        requests = [
            self._request(
                u,
                prompt_index,
                self._sampling,
                u.matcher.hopeless if self.params.prune_samples else None,
            )
            for u in active
        ]
        for unit, result in zip(active, self.engine.generate(requests), strict=True):
            unit.n_samples += len(result.texts)
            unit.n_sample_correct += sum(
                1
                for text, pruned in zip(result.texts, result.pruned, strict=True)
                if not pruned and unit.matcher(text.strip())
            )
            unit.prompt_tokens += result.prompt_tokens
            unit.generated_tokens += result.generated_tokens
        if on_generated:
            on_generated(len(requests) * self._sampling.n)
        return True

    def _run_scoring(self, rows: list[_Row]) -> None:
        """Fast mode, one engine call per answer kind: every alias of a short-form row under
        every prompt (`score`), and every fact of a free-form row from one teacher-forced pass
        of its answer per prompt (`score_spans`)."""
        lead = " " if self.params.prompt_format == "plain" else ""  # plain prompts end "A:"
        special = self.params.prompt_format != "chat"
        short = [row.units[0] for row in rows if row.kind == "short"]
        if short:
            scores = iter(self.engine.score([
                ScoreRequest(prompt, tuple(lead + alias for alias in u.example.answers),
                             temperature=self.params.temperature, top_k=self.params.top_k,
                             add_special_tokens=special)
                for u in short
                for prompt in u.prompts
            ]))
            for unit in short:
                self._score_fast(unit, [next(scores) for _ in unit.prompts])
        long_rows = [row for row in rows if row.kind == "long" and row.units]
        if long_rows:
            scores = iter(self.engine.score_spans([
                SpanScoreRequest(prompt, lead + row.example.answers[0],
                                 tuple(_fact_span(u.fact, row.example.answers[0], lead)
                                       for u in row.units),
                                 temperature=self.params.temperature, top_k=self.params.top_k,
                                 add_special_tokens=special)
                for row in long_rows
                for prompt in row.prompts.prompts
            ]))
            for row in long_rows:
                per_prompt = [next(scores) for _ in row.prompts.prompts]
                for f, unit in enumerate(row.units):
                    self._score_fast(unit, [[facts[f]] for facts in per_prompt])

    def _score_fast(self, unit: _Unit, per_prompt) -> None:
        """Fast-mode categories: greedy-correct prompts decide as usual; with none, the unit is
        WeaklyKnown when the full protocol's samples would more likely than not hit a gold."""
        answers = unit.example.answers if unit.fact is None else (unit.fact.text,)
        p_hit = []
        for scores in per_prompt:
            hit = [i for i, score in enumerate(scores) if score.greedy]
            unit.greedy_correct.append(bool(hit))
            # the answer as greedy decoding writes it (an alias), or None: not generated
            unit.greedy_answers.append(answers[hit[0]] if hit else None)
            p_hit.append(min(1.0, sum(score.probability for score in scores)))
        unit.p_sample_estimate = sum(p_hit) / len(p_hit)
        if any(unit.greedy_correct):
            unit.fast_category = categorize(sum(unit.greedy_correct), len(unit.greedy_correct), 0, 0)
        else:
            p_miss_all = math.prod((1.0 - p) ** self.params.n_samples for p in p_hit)
            unit.fast_category = (
                Category.WEAKLY_KNOWN if 1.0 - p_miss_all >= 0.5 else Category.UNKNOWN
            )

    def _category(self, unit: _Unit) -> Category:
        if unit.fast_category is not None:
            return unit.fast_category
        n_greedy_correct = sum(unit.greedy_correct)
        if self._complete(unit) or n_greedy_correct or unit.n_sample_correct:
            return categorize(
                n_greedy_correct, len(unit.greedy_correct), unit.n_sample_correct,
                unit.n_samples,
            )
        # pragma: no cover - adaptive always samples undecided units to completion
        raise AssertionError(f"row {unit.example.row} left undecided")

    def _complete(self, unit: _Unit) -> bool:
        return unit.n_samples == self.params.n_prompts * self.params.n_samples

    def _finish(self, row: _Row) -> RowResult:
        common = dict(
            row=row.example.row,
            exemplar_ids=row.prompts.exemplar_ids,
            exemplar_sets=row.prompts.sets,
            prompts=row.prompts.prompts if self.params.keep_prompts else None,
            prompt_tokens=sum(u.prompt_tokens for u in row.units),
            generated_tokens=sum(u.generated_tokens for u in row.units),
            answer_kind=row.kind,
            exemplar_pool=row.pool_group,
        )
        if row.kind == "short":
            return RowResult(**self._outcome(row.units[0]), **common)
        analysis = row.analysis
        facts = [
            FactResult(
                text=u.fact.text,
                start=u.fact.start,
                end=u.fact.end,
                label=u.fact.label,
                sentence=analysis.sentence_of(u.fact),
                **self._outcome(u),
            )
            for u in row.units
        ]
        common.update(facts=facts, sentences=[(s.start, s.end) for s in analysis.sentences])
        least = least_known(facts)
        if least is None:
            return RowResult(
                category=None, greedy_answers=[], greedy_correct=[], n_sample_correct=0,
                n_samples=0, sampling_complete=False, **common,
            )
        # A free-form row reads as its least-known fact.
        return RowResult(**{name: getattr(least, name) for name in _OUTCOME}, **common)

    def _outcome(self, unit: _Unit) -> dict:
        """What one probed unit (a short row, or a fact) concluded, by `_OUTCOME` name."""
        return dict(
            category=self._category(unit),
            greedy_answers=unit.greedy_answers,
            greedy_correct=unit.greedy_correct,
            n_sample_correct=unit.n_sample_correct,
            n_samples=unit.n_samples,
            sampling_complete=unit.fast_category is None and self._complete(unit),
            p_sample_estimate=unit.p_sample_estimate,
        )


_OUTCOME = ("category", "greedy_answers", "greedy_correct", "n_sample_correct", "n_samples",
            "sampling_complete", "p_sample_estimate")


def _own_group(example: Example, kind: str) -> str:
    return example.group


def _short_exemplars(example: Example, kind: str) -> bool:
    return False


def row_stream(seed: int, example: Example) -> int:
    """A row's random stream, keyed by the seed and the row's content (group, question, gold
    answers), never its position: `--limit`, shards and resumes leave it unchanged."""
    return stream_key("slick-row", seed, example.group, example.question, *example.answers)


def _fact_span(fact: Fact, answer: str, lead: str) -> tuple[int, int]:
    """A fact's span in `lead + answer`, as its fact probe sees it: a fact that opens the
    answer is scored as the answer beginning with it, lead and leading spaces included."""
    opening = not answer[: fact.start].rstrip()
    return (0 if opening else len(lead) + fact.start, len(lead) + fact.end)
