"""Rows as users have them: ShareGPT conversations and Alpaca instruction/input/output rows are
recognised by their columns, probed like chat and QA rows, and come back in their own shape
(a relabelled answer lands in the last `gpt` turn's `value`, or in `output`)."""

from __future__ import annotations

from annotated_helpers import qa_rows, relabelled_jsonl, script_for, write_input
from slick_curator.probing.reading import read_dataset

IDK = "I don't know."


def sharegpt_rows(n=12):
    rows = [{"conversations": [{"from": "system", "value": "Be brief."},
                               {"from": "human", "value": r["question"]},
                               {"from": "gpt", "value": r["answer"]}],
             "relation": r["relation"], "source": "forum"} for r in qa_rows(n)]
    rows.append({"conversations": [{"from": "human", "value": "no answer"}],
                 "relation": "P36", "source": "forum"})
    rows.append({"conversations": [{"role": "user", "content": "wrong keys"},
                                   {"from": "gpt", "value": "x"}],
                 "relation": "P36", "source": "forum"})
    return rows


def alpaca_rows(n=12):
    return [{"instruction": r["question"], "input": "Answer in a word." if i % 2 else "",
             "output": r["answer"], "relation": r["relation"]}
            for i, r in enumerate(qa_rows(n))]


def unknown(n):
    return {i for i in range(n) if i % 4 == 3}  # see script_for


def test_sharegpt_rows_are_chat_rows_with_errors_naming_the_turn(tmp_path):
    data = read_dataset(write_input(tmp_path / "sg.jsonl", sharegpt_rows()), on_error="skip")
    assert (data.kind, data.shape) == ("chat", "sharegpt")
    first = data.examples[0]
    assert first.question == qa_rows(1)[0]["question"] and first.answers == ("City 0",)
    errors = {e.row: e for e in data.errors}
    assert errors[12].field == "conversations" and errors[12].reason == "no final assistant turn"
    assert errors[13].field == "conversations" and "'from' and 'value'" in errors[13].reason


def test_alpaca_rows_ask_the_instruction_with_its_input(tmp_path):
    data = read_dataset(write_input(tmp_path / "alpaca.json", alpaca_rows()))
    assert (data.kind, data.shape) == ("qa", "alpaca")
    assert data.examples[0].question == "What is the capital of land 0?"  # empty input
    assert data.examples[1].question == "What is the capital of land 1?\n\nAnswer in a word."
    assert data.examples[1].answers == ("City 1",)


def test_openai_messages_and_plain_qa_keep_their_shape_names(tmp_path):
    qa = read_dataset(write_input(tmp_path / "qa.jsonl", qa_rows(4)))
    chat = read_dataset(write_input(tmp_path / "chat.jsonl", [
        {"messages": [{"role": "user", "content": "q?"}, {"role": "assistant", "content": "a"}]}
    ]))
    assert (qa.shape, chat.shape) == ("qa", "chat")


def test_sharegpt_round_trip_with_relabel(tmp_path):
    rows = sharegpt_rows()
    got, _, _ = relabelled_jsonl(tmp_path / "sg.jsonl", rows, script_for(qa_rows(12)),
                                 messages_column="conversations")
    expected = []
    for i, row in enumerate(rows[:12]):  # the two bad rows are dropped
        if i in unknown(12):
            row = {**row, "conversations": [*row["conversations"][:-1],
                                            {"from": "gpt", "value": IDK}]}
        expected.append(row)
    assert got == expected
    again = read_dataset(tmp_path / "out.jsonl")
    assert again.shape == "sharegpt" and len(again.examples) == 12


def test_alpaca_round_trip_with_relabel(tmp_path):
    rows = alpaca_rows()
    # The scripted engine knows a question by its prompt's "Q: " line: the instruction.
    script = script_for(rows, question="instruction", answer="output")
    got, _, _ = relabelled_jsonl(tmp_path / "alpaca.jsonl", rows, script)
    assert got == [{**r, "output": IDK} if i in unknown(12) else r for i, r in enumerate(rows)]
    assert read_dataset(tmp_path / "out.jsonl").shape == "alpaca"
