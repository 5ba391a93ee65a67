"""Long-form EntityQuestions: chat rows whose answers are sentences carrying the gold.

One command, from the repository root:

    .venv/bin/python bench/longform/make_data.py --split test --rows-per-relation 500

For each of the SliCK study's 12 training relations it reads ../shared/data/entityquestions
(`{split}/{relation}.{split}.json`), keeps single-answer rows (as the study did; for the train
split also drops rows whose subject is the subject of a test row), shuffles them with a seeded
generator (`random.Random(f"{seed}:{split}:{relation}")`, as bench/finetune does) and writes
chat rows:

* user = the EntityQuestions question; assistant = a sentence stating the gold, from one of
  2-3 templates per relation (`TEMPLATES`: "The capital of [X] is [Y]." / "[Y] is the capital
  of [X]." …, [X] the subject recovered from the question template, [Y] the gold);
* with probability `--joined-share`, the answer goes on with 1-2 more such sentences about
  other rows of the same relation ("joined" rows): their questions are not asked, but their
  golds are facts of the answer all the same.

Each source (question, gold) is used once. Every output row lists the golds it carries:

    {"id", "relation", "split", "kind": "single" | "joined", "messages": [user, assistant],
     "golds": [{"qa_id", "question", "answer", "subject", "asked", "template",
                "start", "end", "sentence", "sentence_start", "sentence_end"}]}

with ``assistant[start:end] == answer`` (Python string offsets) and the gold's sentence index
and offsets, so fact-level categories can be compared with QA-level ones. `--qa-out` also
writes the (question, gold) pairs as QA rows (`id` = `qa_id`) for the paper's QA-level probe.
`--recall` prints how many golds `slick_curator.probing.facts.extract_facts` finds.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "entityquestions"
HERE = Path(__file__).resolve().parent

RELATIONS = (
    "P131",
    "P136",
    "P17",
    "P19",
    "P26",
    "P264",
    "P36",
    "P40",
    "P495",
    "P69",
    "P740",
    "P800",
)

# Answer sentences per relation, in templates.json: [X] the subject, [Y] the gold. P136 golds
# are lower-case genres ("alternative rock"), so no P136 template opens with [Y].
TEMPLATES: dict[str, tuple[str, ...]] = {
    relation: tuple(sentences)
    for relation, sentences in json.loads((HERE / "templates.json").read_text()).items()
}


def load(split: str, relation: str) -> list[dict]:
    """The single-answer rows of one file, first occurrence of each question, in file order."""
    rows = json.loads((DATA / split / f"{relation}.{split}.json").read_text())
    seen: set[str] = set()
    out = []
    for index, row in enumerate(rows):
        if len(row["answers"]) != 1 or row["question"] in seen:
            continue
        seen.add(row["question"])
        out.append({"question": row["question"], "answer": row["answers"][0], "index": index})
    return out


def subject_pattern(relation: str) -> re.Pattern[str]:
    """The relation's question template as a regex whose one group is the subject."""
    templates = json.loads((DATA / "relation_query_templates.json").read_text())
    head, tail = templates[relation].split("[X]")
    return re.compile(f"{re.escape(head)}(.+){re.escape(tail)}")


def render(template: str, subject: str, gold: str) -> tuple[str, int, int]:
    """The sentence and the offsets of the gold in it."""
    if template.endswith("[Y].") and gold.endswith("."):
        template = template[:-1]  # "Washington, D.C." ends the sentence itself
    parts, start = [], -1
    for piece in re.split(r"(\[X\]|\[Y\])", template):
        if piece == "[Y]":
            start = sum(map(len, parts))
            parts.append(gold)
        else:
            parts.append(subject if piece == "[X]" else piece)
    return "".join(parts), start, start + len(gold)


def make_rows(
    split: str,
    relations: Iterable[str],
    rows_per_relation: int | None,
    joined_share: float,
    seed: int,
) -> list[dict]:
    """The long-form rows of `split` (see the module docstring); deterministic in `seed`."""
    out = []
    for relation in relations:
        sources = load(split, relation)
        if split == "train":
            pattern = subject_pattern(relation)
            test_subjects = {_subject(pattern, r["question"]) for r in load("test", relation)}
            sources = [r for r in sources if _subject(pattern, r["question"]) not in test_subjects]
        rng = random.Random(f"{seed}:{split}:{relation}")
        rng.shuffle(sources)
        out += _relation_rows(split, relation, sources, rows_per_relation, joined_share, rng)
    return out


def _relation_rows(split, relation, sources, limit, joined_share, rng) -> list[dict]:
    pattern = subject_pattern(relation)
    rows, cursor = [], 0
    while cursor < len(sources) and (limit is None or len(rows) < limit):
        size = 1 if rng.random() >= joined_share else rng.choice((2, 3))
        group = sources[cursor : cursor + size]
        cursor += len(group)
        sentences, golds, offset = [], [], 0
        for i, source in enumerate(group):
            subject = _subject(pattern, source["question"])
            template = rng.randrange(len(TEMPLATES[relation]))
            text, start, end = render(TEMPLATES[relation][template], subject, source["answer"])
            golds.append(
                {
                    "qa_id": f"{relation}-{split}-{source['index']:05d}",
                    "question": source["question"],
                    "answer": source["answer"],
                    "subject": subject,
                    "asked": i == 0,
                    "template": template,
                    "start": offset + start,
                    "end": offset + end,
                    "sentence": i,
                    "sentence_start": offset,
                    "sentence_end": offset + len(text),
                }
            )
            sentences.append(text)
            offset += len(text) + 1
        rows.append(
            {
                "id": f"{relation}-{split}-long-{len(rows):05d}",
                "relation": relation,
                "split": split,
                "kind": "single" if len(group) == 1 else "joined",
                "messages": [
                    {"role": "user", "content": group[0]["question"]},
                    {"role": "assistant", "content": " ".join(sentences)},
                ],
                "golds": golds,
            }
        )
    return rows


def _subject(pattern: re.Pattern[str], question: str) -> str:
    match = pattern.fullmatch(question)
    if match is None:
        raise ValueError(f"question does not fit its relation's template: {question!r}")
    return match.group(1)


def qa_rows(rows: list[dict]) -> list[dict]:
    """The (question, gold) pairs the long-form rows carry, as QA rows for the QA-level probe."""
    return [
        {
            "id": g["qa_id"],
            "question": g["question"],
            "answers": [g["answer"]],
            "relation": row["relation"],
        }
        for row in rows
        for g in row["golds"]
    ]


_COUNTS = ("golds", "in_question", "earlier", "findable", "found", "overlapped")


def recall(rows: list[dict], extractor=None) -> dict[str, dict[str, int]]:
    """How many golds `extractor` (default: `FactExtractor()`) finds, per relation.

    A gold whose normalised text the user's question contains (``in_question``: "What is the
    capital of Zarqa Governorate?" -> "Zarqa") or an earlier part of the answer states
    (``earlier``: a joined row's second "United States of America") is no fact by design;
    the rest are ``findable``. A findable gold is ``found`` when a fact has its span's
    normalised text and overlaps it, ``overlapped`` when any fact overlaps it.
    """
    from slick_curator.probing.facts import FactExtractor
    from slick_curator.probing.matching import normalize

    extractor = extractor or FactExtractor()
    answers = [row["messages"][1]["content"] for row in rows]
    questions = [row["messages"][0]["content"] for row in rows]
    counts: dict[str, dict[str, int]] = {}
    for row, question, analysis in zip(
        rows, questions, extractor.analyse(answers, questions), strict=True
    ):
        c = counts.setdefault(row["relation"], dict.fromkeys(_COUNTS, 0))
        for gold in row["golds"]:
            c["golds"] += 1
            words = f" {normalize(gold['answer'])} "
            if words in f" {normalize(question)} ":
                c["in_question"] += 1
                continue
            if words in f" {normalize(analysis.answer[: gold['start']])} ":
                c["earlier"] += 1
                continue
            c["findable"] += 1
            near = [f for f in analysis.facts if f.start < gold["end"] and gold["start"] < f.end]
            c["found"] += any(f" {normalize(f.text)} " == words for f in near)
            c["overlapped"] += bool(near)
    return counts


def recall_table(counts: dict[str, dict[str, int]]) -> str:
    """`recall` as a Markdown table, with a total row."""
    total = {k: sum(c[k] for c in counts.values()) for k in _COUNTS}
    lines = [
        "| relation | golds | in question | stated earlier | findable | found | overlapped |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for relation, c in [*counts.items(), ("**all**", total)]:
        f = max(c["findable"], 1)
        lines.append(
            f"| {relation} | {c['golds']} | {c['in_question']} | {c['earlier']} | "
            f"{c['findable']} | {c['found'] / f:.1%} | {c['overlapped'] / f:.1%} |"
        )
    return "\n".join(lines)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"))
    parser.add_argument("--relations", nargs="+", default=list(RELATIONS), choices=RELATIONS)
    parser.add_argument(
        "--rows-per-relation",
        type=int,
        default=None,
        help="output rows per relation (default: until the sources run out)",
    )
    parser.add_argument(
        "--joined-share",
        type=float,
        default=0.5,
        help="share of rows whose answer joins 2-3 sentences (default 0.5)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=None,
        help="JSONL (default bench/longform/work/longform-SPLIT.jsonl)",
    )
    parser.add_argument(
        "--qa-out",
        type=Path,
        default=None,
        help="also write the carried (question, gold) pairs as QA rows",
    )
    parser.add_argument(
        "--recall", action="store_true", help="print the recall of extract_facts on the gold spans"
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "spacy", "rules"),
        help="fact extractor for --recall",
    )
    parser.add_argument(
        "--common-nouns", action="store_true", help="--recall with FactExtractor(common_nouns=True)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.joined_share <= 1:
        parser.error(f"--joined-share must be within [0, 1], got {args.joined_share}")
    rows = make_rows(
        args.split, args.relations, args.rows_per_relation, args.joined_share, args.seed
    )
    out = args.out or HERE / "work" / f"longform-{args.split}.jsonl"
    _write_jsonl(out, rows)
    print(f"{len(rows)} rows, {sum(len(r['golds']) for r in rows)} golds -> {out}")
    if args.qa_out:
        _write_jsonl(args.qa_out, qa_rows(rows))
    if args.recall:
        from slick_curator.probing.facts import FactExtractor

        extractor = FactExtractor(backend=args.backend, common_nouns=args.common_nouns)
        print(f"extract_facts ({extractor.describe()}) on the gold spans:")
        print(recall_table(recall(rows, extractor)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
