"""Fast mode on free-form rows: every fact of a row from one span-scoring request per prompt."""

from __future__ import annotations

from slick_curator.engines.fake import FakeEngine
from slick_curator.probing.categories import Category
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.prompts import ExemplarPool
from slick_curator.probing.records import Example
from slick_curator.probing.runner import Prober

EXEMPLARS = [Example(row=i, question=f"q{i}?", answers=(f"a{i}",), group="g") for i in range(6)]
ANSWER = "The capital is Nairobi. It lies near Mount Kenya."
LONG = Example(row=10, question="Where is it?", answers=(ANSWER,), group="g")
SHORT = Example(row=11, question="q5?", answers=("a5",), group="g")


class SpanRecorder(FakeEngine):
    """The fake engine, recording every span-scoring request."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.span_requests = []

    def score_spans(self, requests):
        self.span_requests += requests
        return super().score_spans(requests)  # the seam's default: a ScoreRequest per span


def probe(engine, *examples):
    params = ProbeParams(n_prompts=3, k_shot=2, n_samples=4, mode="fast", answer_kind="auto",
                         fact_ner="rules")
    pool = ExemplarPool(EXEMPLARS, n_prompts=3, k_shot=2, seed=0)
    return Prober(engine, params, pool).probe(list(examples))


def test_a_free_form_row_is_one_request_per_prompt_holding_every_fact():
    engine = SpanRecorder(greedy={"Where is it?": "Nairobi", "q5?": "a5"})
    long, short = probe(engine, LONG, SHORT)
    assert len(engine.span_requests) == 3  # the short row goes through `score`
    facts = [(f.text, f.start, f.end) for f in long.facts]
    assert [t for t, _, _ in facts] == ["Nairobi", "Mount Kenya"]
    for request in engine.span_requests:
        # plain prompts end "A:", so the teacher-forced text is the answer after a space
        assert request.text == " " + ANSWER and request.prompt.endswith("Q: Where is it?\nA:")
        assert [request.text[s:e].strip() for s, e in request.spans] == ["Nairobi", "Mount Kenya"]
        assert [request.text[s - 1:s] for s, _ in request.spans] == [" ", " "]
    by_text = {f.text: f for f in long.facts}
    assert by_text["Nairobi"].category is Category.HIGHLY_KNOWN
    assert by_text["Mount Kenya"].category is Category.UNKNOWN
    assert long.category is Category.UNKNOWN  # the row is its least-known fact
    assert short.category is Category.HIGHLY_KNOWN


def test_an_opening_fact_is_scored_as_the_answer_beginning_with_it():
    answer = "Nairobi is the capital. It lies near Mount Kenya."
    engine = SpanRecorder(greedy={"Where is it?": "Nairobi"})
    (result,) = probe(engine, Example(row=12, question="Where is it?", answers=(answer,),
                                      group="g"))
    opening = engine.span_requests[0].spans[0]
    assert opening[0] == 0 and engine.span_requests[0].text[: opening[1]] == " Nairobi"
    assert result.facts[0].text == "Nairobi"
    assert result.facts[0].category is Category.HIGHLY_KNOWN
    assert result.facts[0].greedy_answers == ["Nairobi"] * 3
