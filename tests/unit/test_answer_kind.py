"""answer_kind: short-form phrases vs free-form sentences, measured on real data."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from slick_curator.probing.answer_kind import MAX_SHORT_WORDS, answer_kind

ROOT = Path(__file__).resolve().parents[2]


def _make_data():
    spec = importlib.util.spec_from_file_location("make_data", ROOT / "bench/longform/make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_entityquestions_golds_are_short(eq_dir):
    golds = [
        answer
        for path in sorted(eq_dir.glob("*/*.json"))
        for row in json.loads(path.read_text())
        for answer in row["answers"]
    ]
    long = [g for g in golds if answer_kind(g) == "long"]
    assert len(golds) > 140_000
    # measured 2026-12-01: 33 of 141,490 (0.02%), sentence-case titles and names such as
    # "It's Tricky", "Ponyo on the Cliff by the Sea", "Res gestae saxonicae sive annalium …"
    assert len(long) / len(golds) < 0.0005, long[:20]


def test_long_form_entityquestions_answers_are_long():
    make_data = _make_data()
    rows = make_data.make_rows("test", make_data.RELATIONS, 60, 0.5, seed=0)
    answers = [row["messages"][1]["content"] for row in rows]
    assert len(answers) == 12 * 60
    assert [a for a in answers if answer_kind(a) != "long"] == []


@pytest.mark.parametrize(
    "answer",
    [
        "Nairobi",
        "Nairobi.",
        "  Washington, D.C. ",
        "alternative rock",
        "rock music.",
        "University of North Carolina at Chapel Hill",
        "Ranulf de Gernon, 4th Earl of Chester",
        "Symphony No. 4",
        "Impulse! Records",
        "Kenya's capital",
        "J. K. Rowling",
        "4 August 1961",
        "",
    ],
)
def test_short(answer):
    assert answer_kind(answer) == "short"


@pytest.mark.parametrize(
    "answer",
    [
        "The capital of Kenya is Nairobi.",
        "Metallica plays heavy metal.",
        "It's Nairobi",
        "He was born in 1961",
        "Nairobi. It is the capital.",
        "Nairobi\nKenya",
        "Nairobi, the capital of Kenya, a big city in East Africa",  # > 6 words, content words
        "Yes, they were married in 1990.",
    ],
)
def test_long(answer):
    assert answer_kind(answer) == "long"


def test_word_limit_applies_to_phrases_with_content_words():
    assert answer_kind(" ".join(["big"] * MAX_SHORT_WORDS)) == "short"
    assert answer_kind(" ".join(["big"] * (MAX_SHORT_WORDS + 1))) == "long"
