"""The data of a fine-tune: training variants, the dev split and the evaluation set.

From an annotated training Parquet and an annotated evaluation Parquet (both made by a probe):

- rows whose question or subject also occurs in the evaluation set are excluded first, so
  nothing the model is tested on was trained on;
- the dev split is carved from what is left, per group (each group gives `dev_fraction` of its
  rows, `dev_max` in all), and is held out of every variant, so all variants see the same dev
  questions and are scored against the original gold answers;
- the variants come from the curation policies (`slick_curator.curation.decide`): `original`
  is every probed row (policy keep), `filter` drops the rows whose category is in `unknown`,
  `relabel` keeps them with the abstention phrase as the answer, `trim` trains free-form
  answers on their known sentences only (and drops the rest, with short-form unknown rows).
  Free-form rows are unknown by their least-known fact, or below `min_known_share`. Free-form
  rows without facts are in no variant: they carry no category to compare by.

A subject is the entity a question asks about: a `subject` column when the data has one, else
recovered from EntityQuestions' question templates (e.g. "What is the capital of [X]?").
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from slick_client.schemas import CurationParams

from slick_curator.curation import AnnotatedFile, question_and_gold
from slick_curator.curation.answers import probed_answers
from slick_curator.curation.policies import decide
from slick_curator.finetune.config import FinetuneParams
from slick_curator.probing.matching import normalize

__all__ = ["EvalRow", "FinetunePlan", "TrainRow", "VariantError", "build_plan", "eval_rows",
           "subject_of"]

_POLICY = {"original": "keep", "filter": "filter", "relabel": "relabel", "trim": "trim"}

# EntityQuestions' relation templates ([X] is the subject), as published with the dataset.
TEMPLATES = {
    "P17": "Which country is [X] located in?", "P19": "Where was [X] born?",
    "P20": "Where did [X] die?", "P26": "Who is [X] married to?",
    "P30": "Which continent is [X] located?", "P36": "What is the capital of [X]?",
    "P40": "Who is [X]'s child?", "P50": "Who is the author of [X]?",
    "P69": "Where was [X] educated?", "P106": "What kind of work does [X] do?",
    "P112": "Who founded [X]?", "P127": "Who owns [X]?", "P131": "Where is [X] located?",
    "P136": "What type of music does [X] play?", "P159": "Where is the headquarter of [X]?",
    "P170": "Who was [X] created by?", "P175": "Who performed [X]?",
    "P176": "Which company is [X] produced by?", "P264": "What music label is [X] represented by?",
    "P276": "Where is [X] located?", "P407": "Which language was [X] written in?",
    "P413": "What position does [X] play?", "P495": "Which country was [X] created in?",
    "P740": "Where was [X] founded?", "P800": "What is [X] famous for?",
    "P19_similar": "What is the birthplace of [X]?",
    "P159_similar": "Where is [X] headquartered?",
    "P170_similar": "Who is the creator of [X]?",
}
_PATTERNS = {
    relation: re.compile("^" + re.escape(t).replace(re.escape("[X]"), "(.+?)") + "$")
    for relation, t in TEMPLATES.items()
}


class VariantError(ValueError):
    """A variant has nothing to train on (or the data cannot make a fine-tune at all)."""

    def __init__(self, message: str, *, variant: str | None = None) -> None:
        super().__init__(message)
        self.variant = variant


@dataclass(frozen=True)
class TrainRow:
    """One SFT example: the question, the answer it is trained to give, and what it was.

    `answers` are the original gold aliases (dev scoring, few-shot exemplars); `target` is
    the answer trained on (the abstention phrase for relabelled rows, the known sentences for
    trimmed ones); `known` is whether the row's category counts as known under the plan's
    `unknown` setting (a trimmed row is known: only its known facts are left).
    """

    row: int
    question: str
    target: str
    answers: tuple[str, ...]
    group: str
    category: str
    known: bool
    relabelled: bool = False
    trimmed: bool = False


@dataclass(frozen=True)
class EvalRow:
    """One held-out question (evaluation or dev) with its gold aliases and SliCK category."""

    row: int
    question: str
    answers: tuple[str, ...]
    group: str
    category: str | None
    id: str | None = None


@dataclass
class FinetunePlan:
    """Everything the training runs need, as plain picklable data."""

    variants: dict[str, list[TrainRow]]
    dev: list[EvalRow]
    eval: list[EvalRow]
    prompt_format: str
    match: str
    k_shot: int
    excluded: int
    model: str | None = None
    source: str | None = None
    eval_source: str | None = None
    exemplars: list[TrainRow] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.variants.items()}


def subject_of(question: str, group: str | None = None, subject: str | None = None) -> str | None:
    """The normalised subject of a question: an explicit `subject`, else a template match."""
    if subject:
        return normalize(subject)
    candidates = [_PATTERNS[group]] if group in _PATTERNS else []
    candidates += [p for name, p in _PATTERNS.items() if name != group]
    for pattern in candidates:
        found = pattern.match(question.strip())
        if found:
            return normalize(found.group(1))
    return None


def _records(data: AnnotatedFile) -> Iterable[tuple[int, dict, str, list[str]]]:
    """(row, record, question, golds) of every probed row."""
    for row, record in enumerate(data.table.to_pylist()):
        if record.get("slick_status") != "probed" or record.get("slick_category") is None:
            continue
        question, golds = question_and_gold(record, data.kind, data.columns)
        if question is None or not golds:
            continue
        yield row, record, question, golds


def eval_rows(data: AnnotatedFile) -> list[EvalRow]:
    """The probed rows of an annotated evaluation file."""
    id_column = data.columns.id
    return [EvalRow(row=row, question=question, answers=tuple(golds),
                    group=record.get("slick_group") or "all",
                    category=record.get("slick_category"),
                    id=None if record.get(id_column) is None else str(record.get(id_column)))
            for row, record, question, golds in _records(data)]


def _dev_rows(candidates: Sequence[int], groups: Sequence[str], params: FinetuneParams
              ) -> set[int]:
    """Indices of the dev split: `dev_fraction` of each group, `dev_max` in all, seeded."""
    if params.dev_fraction <= 0 or params.dev_max == 0:
        return set()
    by_group: dict[str, list[int]] = defaultdict(list)
    for i in candidates:
        by_group[groups[i]].append(i)
    quotas = {g: int(params.dev_fraction * len(rows)) for g, rows in by_group.items()
              if len(rows) >= 2}
    quotas = {g: max(1, q) for g, q in quotas.items()}
    total = sum(quotas.values())
    if total > params.dev_max:  # shrink every group's share alike, largest remainders first
        exact = {g: q * params.dev_max / total for g, q in quotas.items()}
        quotas = {g: int(v) for g, v in exact.items()}
        left = params.dev_max - sum(quotas.values())
        for g in sorted(exact, key=lambda g: (-(exact[g] - quotas[g]), g))[:left]:
            quotas[g] += 1
    chosen: set[int] = set()
    for group, quota in quotas.items():
        rows = list(by_group[group])
        random.Random(f"dev:{params.seed}:{group}").shuffle(rows)
        chosen.update(rows[:quota])
    return chosen


def build_plan(train: AnnotatedFile, evaluation: AnnotatedFile | Sequence[EvalRow],
               params: FinetuneParams, variants: Sequence[str]) -> FinetunePlan:
    """Variants, dev split and evaluation rows; raises VariantError naming an empty variant."""
    eval_set = evaluation if isinstance(evaluation, list) else eval_rows(evaluation)
    if not eval_set:
        raise VariantError("the evaluation set has no probed rows to evaluate on")
    eval_questions = {normalize(e.question) for e in eval_set}
    eval_subjects = {s for e in eval_set if (s := subject_of(e.question, e.group)) is not None}

    records = list(_records(train))
    if not records:
        raise VariantError("the training probe has no probed rows")
    groups = [record.get("slick_group") or "all" for _, record, _, _ in records]
    excluded: set[int] = set()
    for i, (_, record, question, _) in enumerate(records):
        subject = subject_of(question, groups[i], record.get("subject"))
        if normalize(question) in eval_questions or (subject and subject in eval_subjects):
            excluded.add(i)
    usable = [i for i in range(len(records)) if i not in excluded]
    if not usable:
        raise VariantError(f"all {len(records)} probed training rows share a question or "
                           "subject with the evaluation set; nothing is left to train on")
    dev = _dev_rows(usable, groups, params)

    unknown = set(params.unknown)
    answers = probed_answers(train) if "trim" in variants else None
    decisions = {name: decide(train.table, CurationParams(
        policy=_POLICY[name], unknown=params.unknown, abstention=params.abstention,
        min_known_share=params.min_known_share), answers=answers) for name in variants}

    plan_variants: dict[str, list[TrainRow]] = {}
    for name in variants:
        rows: list[TrainRow] = []
        for i in usable:
            if i in dev:
                continue
            row, record, question, golds = records[i]
            action = decisions[name].actions[row]
            if action == "drop":
                continue
            category = record["slick_category"]
            relabel, trim = action == "relabel", action == "trim"
            target = (params.abstention if relabel
                      else decisions[name].trimmed[row].text if trim else golds[0])
            rows.append(TrainRow(row=row, question=question, target=target or golds[0],
                                 answers=tuple(golds), group=groups[i], category=category,
                                 known=trim or category not in unknown, relabelled=relabel,
                                 trimmed=trim))
        if not rows:
            raise VariantError(_empty_message(name, records, usable, dev, unknown),
                               variant=name)
        plan_variants[name] = rows

    dev_rows = [EvalRow(row=records[i][0], question=records[i][2], answers=tuple(records[i][3]),
                        group=groups[i], category=records[i][1]["slick_category"])
                for i in sorted(dev)]
    exemplars = [TrainRow(row=records[i][0], question=records[i][2], target=records[i][3][0],
                          answers=tuple(records[i][3]), group=groups[i],
                          category=records[i][1]["slick_category"],
                          known=records[i][1]["slick_category"] not in unknown)
                 for i in usable if i not in dev]
    probe = train.metadata.get("params") or {}
    eval_meta = evaluation.metadata if isinstance(evaluation, AnnotatedFile) else {}
    return FinetunePlan(
        variants=plan_variants, dev=dev_rows, eval=eval_set,
        prompt_format=probe.get("prompt_format", "plain"), match=probe.get("match", "exact"),
        k_shot=int(probe.get("k_shot", 4)), excluded=len(excluded),
        model=train.metadata.get("model"), source=train.metadata.get("source"),
        eval_source=eval_meta.get("source"), exemplars=exemplars)


def _empty_message(name: str, records: Sequence, usable: Sequence[int], dev: set[int],
                   unknown: set[str]) -> str:
    left = [records[i][1]["slick_category"] for i in usable if i not in dev]
    counts = Counter(left)
    shown = ", ".join(f"{c} {n}" for c, n in sorted(counts.items())) or "none"
    if name == "filter" and left:
        return (f"variant 'filter' has no training rows: all {len(left)} training rows are "
                f"{'/'.join(sorted(unknown))} and filtering drops them ({shown}); leave "
                "'filter' out of variants or probe more data")
    return (f"variant {name!r} has no training rows ({len(records)} probed, "
            f"{len(records) - len(usable)} overlapping the evaluation set, {len(dev)} held out "
            f"as dev; left: {shown})")
