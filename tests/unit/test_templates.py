"""Groups that mix question templates are flagged; real relations one at a time are not."""

from __future__ import annotations

import json

from slick_curator.probing.records import Example
from slick_curator.probing.templates import mixed_template_warnings, question_template


def rows(eq_dir, *relations, group="all", n=60):
    out = []
    for relation in relations:
        for item in json.loads((eq_dir / "test" / f"{relation}.test.json").read_text())[:n]:
            out.append(Example(row=len(out), question=item["question"],
                               answers=tuple(item["answers"]), group=group))
    return out


def test_template_is_the_leading_words_before_the_entity():
    assert question_template("Where was Barack Obama born?") == "where was"
    assert question_template("Who owns Nokia?") == "who owns"
    assert question_template("What is the capital of Kenya?") == "what is the"
    assert question_template("In 1990 who won?") == "in"


def test_one_relation_is_one_template(eq_dir):
    for relation in ("P36", "P127", "P19", "P17", "P69"):
        assert mixed_template_warnings(rows(eq_dir, relation)) == [], relation


def test_concatenated_relations_in_one_group_are_flagged(eq_dir):
    (warning,) = mixed_template_warnings(rows(eq_dir, "P36", "P127", "P19"))
    assert "group 'all' looks like 3 question templates" in warning
    assert "'who owns …'" in warning and "--group-column" in warning
    # The same rows grouped by relation are fine.
    grouped = [*rows(eq_dir, "P36", group="P36"), *rows(eq_dir, "P127", group="P127")]
    assert mixed_template_warnings(grouped) == []


def test_free_form_questions_are_not_flagged():
    questions = ["Why is the sky blue?", "How do I bake bread?", "Explain photosynthesis.",
                 "What year did World War II end?", "Write a poem about rain.",
                 "Can you summarise Hamlet?", "Is coffee bad for you?", "Tell me a joke."] * 3
    examples = [Example(row=i, question=q, answers=("x",)) for i, q in enumerate(questions)]
    assert mixed_template_warnings(examples) == []
