"""A chat row's earlier turns are the probe's context: the system turn before the exemplars,
earlier exchanges right before the question, in plain and in chat prompts; exemplar uses of a
row never carry its context."""

from __future__ import annotations

import json

from slick_curator.probing.prompts import ExemplarPool, chat_messages, plain_prompt, row_prompts
from slick_curator.probing.reading import read_dataset
from slick_curator.probing.records import Example


def conversation(i: int) -> dict:
    return {"messages": [
        {"role": "system", "content": "Answer with a name."},
        {"role": "user", "content": f"I am reading about town {i}."},
        {"role": "assistant", "content": "Happy to help."},
        {"role": "tool", "content": "ignored"},
        {"role": "user", "content": f"Which country is town {i} in?"},
        {"role": "assistant", "content": f"Country {i}"},
    ]}


def test_earlier_turns_become_the_rows_context(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(json.dumps(conversation(i)) for i in range(3)))
    (first, *_), errors = (d := read_dataset(path)).examples, d.errors
    assert not errors
    assert first.question == "Which country is town 0 in?" and first.answers == ("Country 0",)
    assert first.context == (("system", "Answer with a name."),
                             ("user", "I am reading about town 0."),
                             ("assistant", "Happy to help."))


CONTEXT = (("system", "Answer with a name."), ("user", "About town 7."), ("assistant", "OK."))
SHOT = Example(1, "Where is Oslo?", ("Norway",))


def test_plain_prompts_put_the_system_text_first_and_the_exchange_before_the_question():
    prompt = plain_prompt([SHOT], "Which country is town 7 in?", CONTEXT)
    assert prompt == ("Answer with a name.\n\nQ: Where is Oslo?\nA: Norway\n\n"
                      "Q: About town 7.\nA: OK.\n\nQ: Which country is town 7 in?\nA:")
    assert plain_prompt([SHOT], "q?") == "Q: Where is Oslo?\nA: Norway\n\nQ: q?\nA:"


def test_chat_messages_put_the_system_turn_first_and_the_exchange_before_the_question():
    messages = chat_messages([SHOT], "Which country is town 7 in?", CONTEXT)
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "Answer with a name."), ("user", "Where is Oslo?"), ("assistant", "Norway"),
        ("user", "About town 7."), ("assistant", "OK."),
        ("user", "Which country is town 7 in?")]


def test_a_row_used_as_an_exemplar_carries_no_context():
    rows = [Example(i, f"Which country is town {i} in?", (f"Country {i}",), "g", None, CONTEXT)
            for i in range(6)]
    pool = ExemplarPool(rows, n_prompts=2, k_shot=2, seed=0)
    prompts = row_prompts(rows[0], pool).prompts
    for prompt in prompts:
        assert prompt.count("Answer with a name.") == 1  # the probed row's own, once
        assert prompt.count("About town 7.") == 1
        assert prompt.endswith("Q: About town 7.\nA: OK.\n\nQ: Which country is town 0 in?\nA:")
