"""Fact-level SliCK on the real SmolLM2-135M: KV branches, one-pass fact scoring, a whole probe.

The fact probes of one answer are one prompt followed by answer heads that extend each other;
the decoder prefills the shared part once (KV branches) and fast mode scores every fact from
one teacher-forced pass. Both must compute what the per-fact path computes.
"""

from __future__ import annotations

import io
import json

import pytest

from slick_curator.engines import hf_branches
from slick_curator.engines.base import Engine, GenerationRequest, SamplingParams, SpanScoreRequest
from slick_curator.probing.fact_matching import FactMatcher
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.prompts import ExemplarPool, build_prompts
from slick_curator.probing.reading import read_dataset

pytestmark = pytest.mark.model

# (question, answer, facts): facts as they appear in the answer, each probed at its position
LONG_ROWS = [
    ("What is the capital of France?",
     "The capital of France is Paris. It lies on the river Seine, in the north of Europe.",
     ("Paris", "Seine", "Europe")),
    ("What is the capital of Kenya?",
     "The capital of Kenya is Nairobi. It is the largest city of East Africa.",
     ("Nairobi", "East Africa")),
    ("Who wrote Hamlet?",
     "Hamlet was written by William Shakespeare, who was born in Stratford-upon-Avon.",
     ("William Shakespeare", "Stratford-upon-Avon")),
]


def fact_probes(prompt: str, answer: str, facts, lead: str = " "):
    """The fact probes of one answer as the runner builds them: the prompt, then the answer
    up to the fact (its trailing space left to the model)."""
    out = []
    for fact in facts:
        start = answer.index(fact)
        head = answer[:start].rstrip()
        out.append((prompt + (lead + head if head else ""), FactMatcher(fact, opening=not head)))
    return out


@pytest.fixture(scope="module")
def probes(p36_20, p36_dev):
    pool = ExemplarPool(p36_dev.examples, n_prompts=2, k_shot=4, seed=0)
    out = []
    for example, (question, answer, facts) in zip(p36_20.examples, LONG_ROWS):
        for prompt in build_prompts(example, pool)[0]:
            prompt = prompt.rsplit("Q: ", 1)[0] + f"Q: {question}\nA:"
            out += fact_probes(prompt, answer, facts)
    return out


def requests(probes, params, seed=0):
    return [GenerationRequest(prompt, params, hopeless=m.hopeless, settled=m.settled,
                              seed=seed + i) for i, (prompt, m) in enumerate(probes)]


@pytest.mark.parametrize("params", [
    SamplingParams(temperature=0.0, max_new_tokens=12),
    SamplingParams(temperature=0.5, top_k=40, n=16, max_new_tokens=12),
], ids=["greedy", "sampled"])
def test_branched_decoding_computes_what_each_fact_probe_computes_alone(
    hf_engine, probes, params, monkeypatch
):
    # PrefixDecoder's branches: greedy fact probes take them where there is no tree decoder
    # (a GPU, a model outside the Llama family); sampled ones always do.
    monkeypatch.setattr(hf_engine, "tree", None)
    # Every trie level on, however little it saves: the deepest branching there is.
    monkeypatch.setattr(hf_branches, "LEVEL_COST_TOKENS", 0)
    monkeypatch.setattr(hf_branches, "NODE_COST_TOKENS", 0)
    batch = requests(probes, params)
    stats = hf_engine.stats
    before = stats.prefill_tokens, stats.branch_shared_tokens
    together = hf_engine.generate(batch)
    prefilled = stats.prefill_tokens - before[0]
    saved = stats.branch_shared_tokens - before[1]
    alone = [hf_engine.generate([r])[0] for r in batch]
    for a, b in zip(together, alone, strict=True):
        assert (a.texts, a.pruned, a.generated_tokens) == (b.texts, b.pruned, b.generated_tokens)
    assert saved > 0
    # Without branches the same batch prefills exactly the saved tokens more.
    hf_engine.decoder.branch_tokens = None
    try:
        start = stats.prefill_tokens
        plain = hf_engine.generate(batch)
        assert stats.prefill_tokens - start == prefilled + saved
    finally:
        hf_engine.decoder.branch_tokens = hf_branches.MIN_BRANCH_TOKENS
    assert [r.texts for r in plain] == [r.texts for r in together]


@pytest.mark.parametrize("chat", [False, True], ids=["plain", "chat"])
def test_one_pass_fact_scores_equal_per_fact_scores(hf_engine, p36_dev, chat):
    pool = ExemplarPool(p36_dev.examples, n_prompts=1, k_shot=4, seed=0)
    example = p36_dev.examples[-1]
    span_requests = []
    for question, answer, facts in LONG_ROWS + [
        ("Where is Oslo?", "Oslo is the capital of Norway.", ("Oslo", "Norway"))
    ]:
        if chat:
            prompt, lead = hf_engine.render_chat([{"role": "user", "content": question}]), ""
        else:
            prompt = build_prompts(example, pool)[0][0].rsplit("Q: ", 1)[0]
            prompt, lead = prompt + f"Q: {question}\nA:", " "
        spans = []
        for fact in facts:
            start = answer.index(fact)
            opening = not answer[:start].rstrip()
            spans.append((0 if opening else len(lead) + start, len(lead) + start + len(fact)))
        span_requests.append(SpanScoreRequest(prompt, lead + answer, tuple(spans),
                                              temperature=0.5, top_k=40,
                                              add_special_tokens=not chat))
    one_pass = hf_engine.score_spans(span_requests)
    per_fact = Engine.score_spans(hf_engine, span_requests)  # a ScoreRequest per fact
    assert [len(s) for s in one_pass] == [len(r.spans) for r in span_requests]
    for ours, theirs in zip(one_pass, per_fact, strict=True):
        for a, b in zip(ours, theirs, strict=True):
            assert a.greedy == b.greedy
            assert a.probability == pytest.approx(b.probability, rel=1e-3, abs=1e-7)
    # The model knows where Paris is: greedy decoding states it after "... France is".
    assert one_pass[0][0].greedy and one_pass[0][0].probability > 0.5


def jsonl(rows):
    text = "".join(json.dumps(r) + "\n" for r in rows)
    return read_dataset(io.BytesIO(text.encode()), name="rows.jsonl")


def chat_row(question, answer):
    return {"messages": [{"role": "user", "content": question},
                         {"role": "assistant", "content": answer}]}


# Exemplar turns: long answers about other capitals, so the model answers in sentences.
EXEMPLARS = [
    chat_row(f"What is the capital of {country}?",
             f"The capital of {country} is {city}. It is the largest city of {country}.")
    for country, city in [("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
                          ("Egypt", "Cairo"), ("Russia", "Moscow"), ("China", "Beijing")]
]
PROBED = [
    chat_row("What is the capital of France?", "The capital of France is Paris."),
    chat_row("What is the capital of Japan?", "The capital of Japan is Tokyo."),
    # a country and a capital that do not exist: no model can know this fact
    chat_row("What is the capital of Veltravia?",
             "The capital of Veltravia is Quorbenholt. It lies on the Zimmerath river."),
]


@pytest.fixture(scope="module")
def fact_probe(hf_engine):
    def run(mode):
        params = ProbeParams(mode=mode, n_prompts=3, k_shot=3, prompt_format="chat",
                             answer_kind="long", fact_ner="rules")
        probe = ProbeRun(jsonl(PROBED), params, exemplars=jsonl(EXEMPLARS), shard_size=8)
        tables = [probe.probe_shard(hf_engine, rows) for _, rows in probe.shards()]
        return probe.annotate(tables, {}).to_pylist()

    return run


def facts_of(rows):
    return [[(f["text"], f["category"]) for f in row["slick_facts"]] for row in rows]


def test_fact_level_probe_replays_agrees_with_full_and_knows_what_it_knows(fact_probe):
    adaptive = fact_probe("adaptive")
    again = fact_probe("adaptive")
    assert [r["slick_facts"] for r in again] == [r["slick_facts"] for r in adaptive]
    assert facts_of(fact_probe("full")) == facts_of(adaptive)
    known = dict(fact for row in facts_of(adaptive) for fact in row)
    assert set(known) == {"Paris", "Tokyo", "Quorbenholt", "Zimmerath"}, known
    assert known["Paris"] in ("HighlyKnown", "MaybeKnown"), known  # greedy says "Paris"
    assert known["Quorbenholt"] == "Unknown", known  # a made-up capital of a made-up country
    assert [r["slick_category"] for r in adaptive][2] == "Unknown"  # its least-known fact
    # Fast mode: the same facts, each scored from one teacher-forced pass per prompt.
    fast = dict(fact for row in facts_of(fact_probe("fast")) for fact in row)
    assert set(fast) == set(known)
    assert fast["Paris"] == "HighlyKnown" and fast["Quorbenholt"] == "Unknown", fast


class Recording:
    """The engine, with the prompts it was sent written down."""

    def __init__(self, engine: Engine):
        self.engine, self.prompts = engine, []

    def generate(self, requests):
        self.prompts += [r.prompt for r in requests]
        return self.engine.generate(requests)

    def __getattr__(self, name):
        return getattr(self.engine, name)


def test_a_fact_opening_a_later_copular_sentence_is_asked_and_judged(hf_engine):
    # After a complete first sentence the model is asked "What is the capital of France?":
    # SmolLM2 knows Paris, and cannot know the capital of a made-up country.
    rows = [chat_row("Name two capitals.",
                     "The capital of Japan is Tokyo. Paris is the capital of France."),
            chat_row("Name two more capitals.",
                     "The capital of Japan is Tokyo. Quorbenholt is the capital of Veltravia.")]
    params = ProbeParams(mode="adaptive", n_prompts=3, k_shot=3, prompt_format="chat",
                         answer_kind="long", fact_ner="rules")
    engine = Recording(hf_engine)
    probe = ProbeRun(jsonl(rows), params, exemplars=jsonl(EXEMPLARS), shard_size=8)
    out = probe.annotate([probe.probe_shard(engine, r) for _, r in probe.shards()], {})
    known = dict(fact for row in facts_of(out.to_pylist()) for fact in row)
    assert known["Paris"] in ("HighlyKnown", "MaybeKnown"), known
    assert known["Quorbenholt"] == "Unknown", known
    asked = [p for p in engine.prompts if "What is the capital of France?" in p]
    assert asked and all("The capital of Japan is Tokyo." in p for p in asked)
