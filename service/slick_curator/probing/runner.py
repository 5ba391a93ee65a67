"""Runs the SliCK protocol for a batch of rows against one engine.

`Prober.probe` takes one shard of rows and returns one `RowResult` per row. It sends the
engine large batches (all greedy prompts of the shard at once, then every sampling round at
once) because batching across rows is where throughput comes from.

The protocol runs on *units*: a short-form row is one unit (its whole answer); a free-form row
is one unit per fact, each probed at the fact's position (the prompt, then the answer up to the
fact; `fact_matching` judges the continuation), or asked where it opens a later copular sentence
(`copular`). Adaptive stopping and pruning apply per unit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from slick_curator.engines.base import Engine, GenerationRequest, SamplingParams
from slick_curator.engines.stream_keys import stream_key
from slick_curator.probing.aggregate import least_known
from slick_curator.probing.answer_kind import example_kind
from slick_curator.probing.categories import Category, categorize
from slick_curator.probing.copular import turn_copular
from slick_curator.probing.exact_mode import match_probabilities, run_exact
from slick_curator.probing.fact_matching import FactMatcher, SentenceMatcher
from slick_curator.probing.facts import Fact, FactExtractor
from slick_curator.probing.fast_mode import run_scoring
from slick_curator.probing.matching import Matcher
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.prompts import ExemplarPool, prompt_text, row_prompts
from slick_curator.probing.records import Example
from slick_curator.probing.row_index import question_key
from slick_curator.probing.results import FactResult, RowResult
from slick_curator.probing.units import Row, Unit


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
        if params.mode is None:
            raise ValueError("params.mode unset: resolve it for the engine first "
                             "(probing.params.resolve_mode)")
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
            run_scoring(self.engine, self.params, rows)
            if on_rows:
                on_rows(len(rows))
            return [self._finish(row) for row in rows]
        if self.params.mode != "exact":
            self._run_greedy(units, on_generated)
        if self.params.mode == "exact":
            # Pruning always: the tree stays narrow, and pruned paths could never match.
            found = match_probabilities(self.engine, units, [
                self._request(u, i, self._sampling, u.matcher.hopeless)
                for u in units for i in range(len(u.prompts))], greedy=self._greedy)
            if any(f.greedy is None for f in found):  # the engine did not decode them
                self._run_greedy(units, on_generated)
            else:
                self._record_greedy(units, [f.greedy for f in found], on_generated)
            run_exact(self.params, units, found)
            if on_rows:
                on_rows(len(rows))
            return [self._finish(row) for row in rows]
        decided = self._report_decided(rows, 0, on_rows)
        for prompt_index in range(self.params.n_prompts):
            if not self._run_sampling_round(units, prompt_index, on_generated):
                break
            decided = self._report_decided(rows, decided, on_rows)
        if on_rows and len(rows) > decided:
            on_rows(len(rows) - decided)
        return [self._finish(row) for row in rows]

    def _report_decided(self, rows: list[Row], already: int, on_rows) -> int:
        if self.params.mode == "full":
            return already
        decided = sum(1 for row in rows if not any(map(self._needs_sampling, row.units)))
        if on_rows and decided > already:
            on_rows(decided - already)
        return decided

    def _prepare(self, examples: Sequence[Example]) -> list[Row]:
        render = self.engine.render_chat if self.params.prompt_format == "chat" else None
        kinds = [example_kind(e, self.params.answer_kind) for e in examples]
        long_rows = [e for e, kind in zip(examples, kinds, strict=True) if kind == "long"]
        analyses = dict(
            zip(
                (e.row for e in long_rows),
                # Spans the conversation already gave (question or earlier turns) are no facts
                # to probe.
                self.facts.analyse([e.answers[0] for e in long_rows],
                                   ["\n".join([*(t for _, t in e.context), e.question])
                                    for e in long_rows])
                if long_rows
                else [],
                strict=True,
            )
        )
        rows = []
        for example, kind in zip(examples, kinds, strict=True):
            group = self.pool_group(example, kind)
            pooled = dataclasses.replace(example, group=group)
            built = row_prompts(
                pooled,
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
                units = [Unit(example, matcher, built.prompts, stream)]
                rows.append(Row(example, kind, built, group, units))
                continue
            analysis = analyses[example.row]
            opened = {sentence.start: sentence.text for sentence in analysis.sentences}
            units = [self._fact_unit(pooled, built.prompts, stream, fact, opened.get(fact.start))
                     for fact in analysis.facts]
            rows.append(Row(example, kind, built, group, units, analysis))
        return rows

    def _fact_unit(self, example: Example, prompts: list[str], stream: int, fact: Fact,
                   opened_sentence: str | None) -> Unit:
        """The probe of one fact: asked where it opens a later copular sentence, at the end of
        the sentence turned around where it opens the answer's, else at its position.

        `example` carries its exemplar pool group; `opened_sentence`: the sentence `fact`
        opens, if it opens one."""
        answer = example.answers[0]
        # The model writes the space before the fact itself (BPE words carry it).
        head = answer[: fact.start].rstrip()
        key = stream_key(stream, "fact", fact.start, fact.end)
        turned = turn_copular(opened_sentence, len(fact.text)) if opened_sentence else None
        asked = FactMatcher(fact.text, opening=True, rule=self.params.fact_match)
        # A question that holds the fact ("What is the country where Mexico City is?") would
        # count its own echo: such a sentence is turned instead.
        if turned and head and not asked.stated_in(turned.question):
            # "… Oslo is the capital of Norway." is asked "What is the capital of Norway?" after
            # the answer so far; the fact may come anywhere in the reply's first sentence.
            return Unit(example, asked, self._asked(example, head, turned.question), key,
                        fact=fact)
        opening = opened_sentence is not None or not head
        if turned:  # "Oslo is the capital of Norway." is probed as "The capital of Norway is"
            head, opening = f"{head} {turned.prefix}".lstrip(), False
        lead = " " if self.params.prompt_format == "plain" else ""  # plain prompts end "A:"
        return Unit(
            example,
            FactMatcher(fact.text, opening=opening, rule=self.params.fact_match),
            [prompt + (lead + head if head else "") for prompt in prompts],
            key,
            fact=fact,
            # After a complete sentence the model may end the answer; it does not end here.
            continues=opening and bool(head),
        )

    def _asked(self, example: Example, head: str, question: str) -> list[str]:
        """The row's prompts with the answer so far as an earlier turn and `question` next;
        an exemplar that asks `question` itself is left out of them."""
        context = (*example.context, ("user", example.question), ("assistant", head))
        asked = question_key(question)
        render = self.engine.render_chat if self.params.prompt_format == "chat" else None
        return [prompt_text([e for e in shots if question_key(e.question) != asked], question,
                            context, prompt_format=self.params.prompt_format, render_chat=render)
                for shots in self.pool.exemplars_for(example)]

    def _request(
        self, unit: Unit, index: int, params: SamplingParams, hopeless=None
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

    def _run_greedy(self, units: list[Unit], on_generated) -> None:
        requests = [
            self._request(u, i, self._greedy) for u in units for i in range(len(u.prompts))
        ]
        self._record_greedy(units, self.engine.generate(requests), on_generated)

    def _record_greedy(self, units: list[Unit], decoded: list, on_generated) -> None:
        """`decoded`: one greedy result per unit and prompt, in unit order."""
        results = iter(decoded)
        for unit in units:
            for _ in unit.prompts:
                result = next(results)
                answer = result.texts[0].strip()
                unit.greedy_answers.append(answer)
                unit.greedy_correct.append(unit.matcher(answer))
                unit.prompt_tokens += result.prompt_tokens
                unit.generated_tokens += result.generated_tokens
        if on_generated:
            on_generated(len(decoded))

    def _needs_sampling(self, unit: Unit) -> bool:
        if self.params.mode == "full":
            return True
        if self.params.mode in ("fast", "exact"):
            return False
        # Adaptive: a correct greedy answer already decides HighlyKnown/MaybeKnown, and one
        # correct sample decides WeaklyKnown.
        return not any(unit.greedy_correct) and unit.n_sample_correct == 0

    def _run_sampling_round(self, units: list[Unit], prompt_index: int, on_generated) -> bool:
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

    def _category(self, unit: Unit) -> Category:
        if unit.decided_category is not None:
            return unit.decided_category
        n_greedy_correct = sum(unit.greedy_correct)
        if self._complete(unit) or n_greedy_correct or unit.n_sample_correct:
            return categorize(
                n_greedy_correct, len(unit.greedy_correct), unit.n_sample_correct,
                unit.n_samples,
            )
        # pragma: no cover - adaptive always samples undecided units to completion
        raise AssertionError(f"row {unit.example.row} left undecided")

    def _complete(self, unit: Unit) -> bool:
        return unit.n_samples == self.params.n_prompts * self.params.n_samples

    def _finish(self, row: Row) -> RowResult:
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

    def _outcome(self, unit: Unit) -> dict:
        """What one probed unit (a short row, or a fact) concluded, by `_OUTCOME` name."""
        return dict(
            category=self._category(unit),
            greedy_answers=unit.greedy_answers,
            greedy_correct=unit.greedy_correct,
            n_sample_correct=unit.n_sample_correct,
            n_samples=unit.n_samples,
            sampling_complete=unit.decided_category is None and self._complete(unit),
            p_sample_estimate=unit.p_sample_estimate,
            category_probs=unit.category_probs,
            p_samples=unit.p_samples,
            p_unexplored=unit.p_unexplored,
        )


_OUTCOME = ("category", "greedy_answers", "greedy_correct", "n_sample_correct", "n_samples",
            "sampling_complete", "p_sample_estimate", "category_probs", "p_samples",
            "p_unexplored")


def _own_group(example: Example, kind: str) -> str:
    return example.group


def _short_exemplars(example: Example, kind: str) -> bool:
    return False


def row_stream(seed: int, example: Example) -> int:
    """A row's random stream, keyed by the seed and the row's content (group, question, gold
    answers), never its position: `--limit`, shards and resumes leave it unchanged."""
    return stream_key("slick-row", seed, example.group, example.question, *example.answers)
