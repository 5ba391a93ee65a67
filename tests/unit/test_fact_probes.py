"""Free-form rows through the prober and the pipeline, with a scripted engine.

The engine answers a fact probe from the answer text the prompt ends with; real-model fact
probes are in tests/engines.
"""

from __future__ import annotations

import json

from slick_curator.engines.base import GenerationResult
from slick_curator.engines.fake import FakeEngine
from slick_curator.probing.exemplar_groups import ExemplarGroups
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.reading import read_dataset
from slick_curator.probing.records import Example

ANSWER = "Acme was founded by John Smith in 1901."


class HeadEngine(FakeEngine):
    """Continues the answer head a prompt ends with, from a script: head -> (greedy, sample)."""

    def __init__(self, script: dict[str, tuple[str, str]]):
        super().__init__()
        self.script = script
        self.heads: list[str] = []
        self.prompts: list[str] = []
        self.going_on: set[str] = set()  # heads asked with `continues`

    def generate(self, requests):
        out = []
        for r in requests:
            head = r.prompt.rsplit("<assistant>", 1)[-1]
            self.prompts.append(r.prompt)
            self.heads.append(head)
            if r.continues:
                self.going_on.add(head)
            greedy, sample = self.script.get(head, ("no idea", "no idea"))
            texts = [greedy] if r.params.greedy else [sample] * r.params.n
            out.append(GenerationResult(texts))
        return out


def chat(question: str, answer: str, relation: str = "org") -> dict:
    return {
        "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
        "relation": relation,
    }


def run_rows(tmp_path, rows, engine, **params):
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    defaults = dict(n_prompts=2, k_shot=1, n_samples=2, prompt_format="chat", fact_ner="rules")
    run = ProbeRun(read_dataset(path), ProbeParams(**{"mode": "adaptive", **defaults, **params}))
    shards = [run.probe_shard(engine, rows) for _, rows in run.shards()]
    return run, run.annotate(shards, run.metadata(engine.info())).to_pylist()


def test_a_free_form_row_is_probed_fact_by_fact_and_takes_its_least_known_category(tmp_path):
    engine = HeadEngine({
        "": ("Acme was founded in Ohio.", "x"),  # opening fact: anywhere in the first sentence
        "Acme was founded by": (" John Smith, an engineer", "x"),
        "Acme was founded by John Smith in": (" 1899", " 1901"),  # only samples know it
    })
    rows = [chat("Who founded the company?", ANSWER),
            chat("Where is Acme?", "Acme is in Ohio. It makes anvils.")]
    run, out = run_rows(tmp_path, rows, engine, mode="full")
    row = out[0]
    assert row["slick_answer_kind"] == "long" and row["slick_status"] == "probed"
    facts = {f["text"]: f for f in row["slick_facts"]}
    assert set(facts) == {"Acme", "John Smith", "1901"}
    assert ANSWER[facts["John Smith"]["start"] : facts["John Smith"]["end"]] == "John Smith"
    assert facts["Acme"]["category"] == "HighlyKnown"
    assert facts["John Smith"]["category"] == "HighlyKnown"
    assert facts["1901"]["category"] == "WeaklyKnown" and facts["1901"]["p_sample"] == 1.0
    assert row["slick_category"] == "WeaklyKnown"  # the least-known fact
    assert row["slick_known_share"] == 1.0
    assert [s["start"] for s in row["slick_sentences"]] == [0]
    # The model writes the space before a fact itself: heads end at the word before it.
    assert "Acme was founded by John Smith in" in engine.heads
    # "Acme" is in the second row's question: nothing left to probe but "Ohio".
    assert [f["text"] for f in out[1]["slick_facts"]] == ["Ohio"]
    assert out[1]["slick_category"] == "Unknown" and out[1]["slick_known_share"] == 0.0
    assert out[1]["slick_recommendation"] == "drop"


def test_a_fact_opening_a_later_sentence_counts_anywhere_in_the_continuations_first_sentence(
    tmp_path,
):
    # After "Acme makes anvils." nothing says the next sentence will open with the place: the
    # model that goes on "Acme is based in Ohio." states it, as for a fact opening the answer.
    engine = HeadEngine({"Acme makes anvils.": (" Acme is based in Ohio.", " It is old.")})
    rows = [chat("Where is Acme based?", "Acme makes anvils. Ohio hosts Acme."),
            chat("Who founded the company?", ANSWER)]
    _, out = run_rows(tmp_path, rows, engine, mode="full")
    facts = {f["text"]: f for f in out[0]["slick_facts"]}
    assert set(facts) == {"Ohio"}  # "Acme" is copied from the question
    assert facts["Ohio"]["category"] == "HighlyKnown"
    assert facts["Ohio"]["p_greedy"] == 1.0 and facts["Ohio"]["p_sample"] == 0.0
    # The answer goes on after "Acme makes anvils.": the engine is told so (only there: the
    # other row's facts open no later sentence).
    assert engine.going_on == {"Acme makes anvils."}


def test_a_fact_opening_a_later_copular_sentence_is_asked_the_question_the_sentence_answers(
    tmp_path,
):
    # "Ohio is the state where Acme is based." answers "What is the state where Acme is
    # based?": asked after the answer so far, the reply may state the fact anywhere in its
    # first sentence.
    engine = HeadEngine({"": ("The state where Acme is based is Ohio.", "Acme is in Texas."),
                         "Acme makes anvils.": (" Ohio is big.", " Ohio is big.")})
    answer = "Acme makes anvils. Ohio is the state where Acme is based."
    rows = [chat("Where is Acme based?", answer), chat("Who founded the company?", ANSWER)]
    _, out = run_rows(tmp_path, rows, engine, mode="full")
    (fact,) = out[0]["slick_facts"]
    assert fact["text"] == "Ohio" and fact["category"] == "HighlyKnown"
    assert fact["p_greedy"] == 1.0 and fact["p_sample"] == 0.0
    assert "Acme makes anvils." not in engine.heads  # not probed at its position
    follow_up = ("<user>Where is Acme based?\n<assistant>Acme makes anvils.\n"
                 "<user>What is the state where Acme is based?\n<assistant>")
    asked = {p for p in engine.prompts if p.endswith(follow_up)}
    # the row's exemplar turns come first, as in its other prompts
    assert asked and all(p.startswith("<user>Who founded the company?") for p in asked)
    assert engine.going_on == set()  # a reply to a question may end when it likes


def test_an_asked_plain_prompt_leaves_out_an_exemplar_that_asks_the_same_question(tmp_path):
    rows = [chat("Tell me about Kenya.", "Kenya is in Africa. Nairobi is the capital of Kenya."),
            chat("What is the capital of Kenya?", "The capital of Kenya is Nairobi.")]
    engine = HeadEngine({})
    run, out = run_rows(tmp_path, rows, engine, mode="full", prompt_format="plain",
                        keep_prompts=True)
    assert {f["text"] for f in out[0]["slick_facts"]} >= {"Nairobi"}
    # The row's prompts start with the other row as exemplar; asked, that exemplar would give
    # the answer away, so the asked prompt holds the conversation and the question only.
    assert all(p.startswith("Q: What is the capital of Kenya?\nA: The capital of Kenya is")
               for p in out[0]["slick_prompts"])
    asked = ("Q: Tell me about Kenya.\nA: Kenya is in Africa.\n\n"
             "Q: What is the capital of Kenya?\nA:")
    assert asked in engine.prompts


def test_a_question_that_holds_the_fact_is_not_asked(tmp_path):
    # "What is the country where Mexico City is located?" holds "Mexico": a reply that echoes
    # it would count. The sentence is turned instead, and the fact must begin the reply.
    turned = "Kenya is in Africa. The country where Mexico City is located is"
    engine = HeadEngine({turned: (" Mexico.", " Mexico.")})
    rows = [chat("Tell me about Kenya.", "Kenya is in Africa. Mexico is the country where "
                 "Mexico City is located."),
            chat("Who founded the company?", ANSWER)]
    _, out = run_rows(tmp_path, rows, engine, mode="full")
    facts = {f["text"]: f for f in out[0]["slick_facts"]}
    assert facts["Mexico"]["category"] == "HighlyKnown"
    assert turned in engine.heads
    assert not any("What is the country" in p for p in engine.prompts)


def test_a_fact_opening_a_copular_answer_is_probed_at_the_end_of_the_sentence_turned_around(
    tmp_path,
):
    # Right after the user's question, "The state where Acme is based is" pins the fact down.
    turned = "The state where Acme is based is"
    engine = HeadEngine({turned: (" Ohio.", " Texas."), "": ("Ohio is big.", "Ohio is big.")})
    rows = [chat("Tell me about Acme.", "Ohio is the state where Acme is based."),
            chat("Who founded the company?", ANSWER)]
    _, out = run_rows(tmp_path, rows, engine, mode="full")
    (fact,) = out[0]["slick_facts"]
    assert fact["text"] == "Ohio" and fact["category"] == "HighlyKnown"
    assert fact["p_greedy"] == 1.0 and fact["p_sample"] == 0.0  # must begin with the fact
    assert turned in engine.heads
    assert not any("What is the state" in p for p in engine.prompts)
    assert engine.going_on == set()  # right after "is" the answer goes on anyway


def test_a_free_form_row_without_facts_is_kept(tmp_path):
    rows = [chat("Tell me about it.", "It is a nice thing to have, I think."),
            chat("Who founded the company?", ANSWER)]
    _, out = run_rows(tmp_path, rows, HeadEngine({}))
    assert out[0]["slick_status"] == "no_facts"
    assert out[0]["slick_category"] is None and out[0]["slick_recommendation"] == "keep"
    assert out[0]["slick_facts"] == []


def test_short_and_long_rows_mix_and_the_override_wins(tmp_path):
    rows = [chat(f"What is the capital of place {i}?", f"City{i}", "cap") for i in range(4)]
    rows += [chat("Who founded the company?", ANSWER, "cap")]
    run, out = run_rows(tmp_path, rows, HeadEngine({}))
    assert [r["slick_answer_kind"] for r in out] == ["short"] * 4 + ["long"]
    assert out[0]["slick_facts"] is None and out[0]["slick_category"] == "Unknown"
    assert run.metadata({})["answer_kinds"] == {"short": 4, "long": 1}
    _, forced = run_rows(tmp_path, rows, HeadEngine({}), answer_kind="short")
    assert {r["slick_answer_kind"] for r in forced} == {"short"}


def test_fast_mode_scores_facts(tmp_path):
    rows = [chat("Who founded the company?", ANSWER), chat("Where is Acme?", "Acme is in Ohio.")]
    _, out = run_rows(tmp_path, rows, FakeEngine(), mode="fast")
    assert {f["text"] for f in out[0]["slick_facts"]} == {"Acme", "John Smith", "1901"}
    assert out[0]["slick_category"] == "Unknown"


def example(i: int, answer: str, group: str = "g") -> Example:
    return Example(row=i, question=f"q{i}?", answers=(answer,), group=group)


def test_exemplars_come_from_rows_of_the_same_kind_when_the_group_has_enough():
    long_answer = "It was founded in 1901 by John Smith."
    source = [example(i, f"a{i}") for i in range(4)] + [example(10 + i, long_answer) for i in range(2)]
    groups = ExemplarGroups(source, k_shot=2)
    assert groups.name(source[0], "short") == "g [short-form]"
    assert groups.name(source[4], "long") == "g"  # 2 long questions cannot give 2 + 1
    pooled = groups.pool_index()
    assert set(pooled) == {"g", "g [short-form]"} == groups.pool_groups()
    assert pooled["g [short-form]"][0].tolist() == [0, 1, 2, 3]  # positions of its rows
    assert pooled["g"][0].tolist() == [0, 1, 2, 3, 4, 5]  # the whole group
    only_short = ExemplarGroups(source[:4], k_shot=2)
    assert only_short.name(source[0], "short") == "g"  # one kind: the group keeps its name


def test_a_short_row_among_long_exemplars_accepts_a_sentence_that_states_its_gold():
    from slick_curator.probing.fact_matching import SentenceMatcher

    matcher = SentenceMatcher(["Nairobi"])
    assert matcher("Nairobi") and matcher("The capital of Kenya is Nairobi.")
    assert not matcher("Mombasa. Nairobi is larger.")  # only the first sentence counts
    assert not matcher("Nairobi or Mombasa")  # a phrase is judged whole, as always
    assert not matcher.hopeless("The capital of Kenya is Mom")


def test_which_short_rows_may_get_long_exemplars():
    long_answer = "It was founded in 1901 by John Smith."
    mixed = [example(i, f"a{i}") for i in range(2)] + [example(10 + i, long_answer) for i in range(4)]
    groups = ExemplarGroups(mixed, k_shot=2)
    assert groups.long_exemplars(mixed[0], "short")  # 2 short questions: the whole group
    split = ExemplarGroups([example(i, f"a{i}") for i in range(4)] + mixed[2:], k_shot=2)
    assert not split.long_exemplars(mixed[0], "short")  # short exemplars only
    assert not ExemplarGroups(mixed[:2], k_shot=1).long_exemplars(mixed[0], "short")


def test_the_mixed_row_of_the_issue_is_judged_on_its_sentence(tmp_path):
    """Three sentence rows and one capital: the capital's exemplars are sentences."""

    class SentenceEngine(FakeEngine):
        def generate(self, requests):
            return [GenerationResult([" The capital of Kenya is Nairobi."] * r.params.n)
                    for r in requests]

    rows = [chat("Who founded the company?", ANSWER, "all"),
            chat("Where is Acme?", "Acme is in Ohio. It makes anvils.", "all"),
            chat("Who runs Acme?", "Acme is run by Jane Doe.", "all"),
            chat("What is the capital of Kenya?", "Nairobi", "all")]
    _, out = run_rows(tmp_path, rows, SentenceEngine())
    assert out[3]["slick_answer_kind"] == "short"
    assert out[3]["slick_category"] == "HighlyKnown"


def test_spans_an_earlier_turn_gave_are_not_probed_and_the_turns_reach_the_prompt(tmp_path):
    class Recording(HeadEngine):
        def generate(self, requests):
            self.prompts = [r.prompt for r in requests] + getattr(self, "prompts", [])
            return super().generate(requests)

    engine = Recording({})
    row = {"messages": [
        {"role": "system", "content": "You know companies."},
        {"role": "user", "content": "Tell me about Acme."},
        {"role": "assistant", "content": "Acme makes anvils."},
        {"role": "user", "content": "Who founded it?"},
        {"role": "assistant", "content": ANSWER}], "relation": "org"}
    _, out = run_rows(tmp_path, [row, chat("Who founded Foo?", "Foo was founded by Ann Lee.")],
                      engine, mode="full")
    facts = {f["text"] for f in out[0]["slick_facts"]}
    assert facts == {"John Smith", "1901"}  # "Acme" was said in an earlier turn
    # Every probe of the row sees the system turn first and the earlier exchange right
    # before the question.
    def asks(prompt: str) -> str:  # the question a prompt ends with
        return prompt.rsplit("<user>", 1)[-1].split("\n", 1)[0]

    mine = [p for p in engine.prompts if asks(p) == "Who founded it?"]
    assert mine and all(p.index("You know companies.") < p.index("Tell me about Acme.")
                        < p.index("Acme makes anvils.") < p.index("Who founded it?")
                        for p in mine)
    assert all(p.count("Tell me about Acme.") == 1 for p in mine)
    # As the other row's exemplar it brings its question and answer, not its context.
    theirs = [p for p in engine.prompts if asks(p) == "Who founded Foo?"]
    assert theirs and all("Who founded it?" in p and "You know companies." not in p
                          for p in theirs)
