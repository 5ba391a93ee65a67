"""Exemplar-set health: greedy accuracy per few-shot exemplar set, and which sets are outliers.

Every prompt of a row is built from one exemplar set of the row's group (`slick_exemplar_sets`
names it per prompt, the file metadata lists each set's exemplar ids per exemplar pool,
`slick_exemplar_pool`: a group's short-form and free-form rows draw from pools of their own,
and sets are told apart by pool). A set that teaches the wrong answer format ("City, State",
"… in der Oberpfalz") pulls down the greedy accuracy of every row's prompt built from it, and
with it P_greedy and the categories of the whole group.

The outlier rule (`flag_outliers`), per group: a set is an outlier when its accuracy differs
from that of the group's other, unflagged sets (their prompts pooled) by more than `MIN_POINTS`
(15 percentage points) AND a two-proportion z-test (pooled variance) gives |z| above
`z_threshold(m)` for the m sets in the file: 3, or the two-sided Bonferroni bound for
`FAMILY_ALPHA` (1 %) over the m sets when that is higher (3.29 for 10 sets, 5.45 for 200,000),
so that pure noise flags a set in about 1 file of 100, however many groups it has; and only
on counts large enough for that test (at least `MIN_EXPECTED` = 5 expected correct and 5
expected wrong answers on each side at the pooled rate). The points keep a huge group from
flagging a harmless 2-point difference; the z and the counts keep small groups and rarely
used spare sets from being flagged on noise. The most extreme set that meets the rule is
flagged first and leaves the reference, and so on until none meets it (fewer than half of a
group's sets: an outlier is a minority), so one bad set cannot make the good sets look like
outliers "above" it. A flagged set's numbers are those it was flagged on. Nearly every row
of a group uses every main set, so row difficulty is shared by both sides and the unpaired
test is conservative.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from slick_client.schemas import ExemplarSetPublic

__all__ = ["FAMILY_ALPHA", "MAX_EXEMPLAR_SETS", "MIN_EXPECTED", "MIN_POINTS", "MIN_Z",
           "ExemplarSetHealth", "exemplar_set_health", "flag_outliers", "is_outlier",
           "two_proportion_z", "z_threshold"]

MIN_POINTS = 0.15
MIN_Z = 3.0
MIN_EXPECTED = 5
FAMILY_ALPHA = 0.01
MAX_EXEMPLAR_SETS = 200


@dataclass
class ExemplarSetHealth:
    """The listed sets (see `exemplar_set_health`), the sets in the file, the flagged ones."""

    sets: list[ExemplarSetPublic] = field(default_factory=list)
    total: int = 0
    flagged: int = 0
    min_z: float = MIN_Z


def z_threshold(tests: int) -> float:
    """The |z| a set must exceed when `tests` sets are tested: MIN_Z, or the two-sided
    Bonferroni bound for FAMILY_ALPHA over them when that is higher."""
    if tests <= 1:
        return MIN_Z
    return max(MIN_Z, NormalDist().inv_cdf(1 - FAMILY_ALPHA / (2 * tests)))


def two_proportion_z(correct: int, prompts: int, rest_correct: int, rest_prompts: int
                     ) -> float | None:
    """z of correct/prompts vs rest_correct/rest_prompts with the pooled variance; None when
    either side is empty or the pooled share is 0 or 1 (no variance, no difference)."""
    if prompts <= 0 or rest_prompts <= 0:
        return None
    pooled = (correct + rest_correct) / (prompts + rest_prompts)
    variance = pooled * (1 - pooled) * (1 / prompts + 1 / rest_prompts)
    if variance <= 0:
        return None
    return (correct / prompts - rest_correct / rest_prompts) / math.sqrt(variance)


def is_outlier(correct: int, prompts: int, rest_correct: int, rest_prompts: int, *,
               min_z: float = MIN_Z) -> bool:
    """More than MIN_POINTS from the rest and |z| > min_z, with at least MIN_EXPECTED expected
    correct and wrong answers on both sides (the z-test's normal approximation holds)."""
    z = two_proportion_z(correct, prompts, rest_correct, rest_prompts)
    if z is None:
        return False
    pooled = (correct + rest_correct) / (prompts + rest_prompts)
    if min(prompts, rest_prompts) * min(pooled, 1 - pooled) < MIN_EXPECTED:
        return False
    gap = correct / prompts - rest_correct / rest_prompts
    return abs(gap) > MIN_POINTS and abs(z) > min_z


@dataclass
class _Tally:
    index: int
    prompts: int
    correct: int
    rest_prompts: int = 0
    rest_correct: int = 0
    outlier: bool = False


def flag_outliers(tallies: Sequence[_Tally], *, min_z: float = MIN_Z) -> None:
    """Flag one group's outlier sets in place and set each set's reference (`rest_*`).

    The most extreme set (largest |z|) that meets `is_outlier` against the group's other
    unflagged sets is flagged and leaves the reference; repeat until none meets it, flagging
    fewer than half of the group's sets (with two sets, neither is the odd one out).
    """
    prompts = sum(t.prompts for t in tallies)
    correct = sum(t.correct for t in tallies)
    most = (len(tallies) - 1) // 2
    flagged = 0
    while True:
        worst: tuple[float, int, _Tally] | None = None
        for t in tallies:
            if t.outlier:
                continue
            t.rest_prompts, t.rest_correct = prompts - t.prompts, correct - t.correct
            if flagged < most and is_outlier(t.correct, t.prompts, t.rest_correct,
                                             t.rest_prompts, min_z=min_z):
                z = abs(two_proportion_z(t.correct, t.prompts, t.rest_correct,
                                         t.rest_prompts) or 0.0)
                if worst is None or (z, -t.index) > worst[:2]:
                    worst = (z, -t.index, t)
        if worst is None:
            return
        worst[2].outlier = True
        flagged += 1
        prompts -= worst[2].prompts
        correct -= worst[2].correct


def exemplar_set_health(table: pa.Table, rows: Sequence[int], metadata: Mapping[str, Any], *,
                        limit: int = MAX_EXEMPLAR_SETS) -> ExemplarSetHealth:
    """Per-set greedy accuracy over the probed `rows` of `table`.

    Lists every flagged set (the largest |z| first when there are more than `limit`), then all
    sets of the groups with the most probed rows, a group at a time while they fit in `limit`.
    Groups with a flagged set come first, then the others, largest first; sets by index.
    Files without `slick_exemplar_sets` (written before it) and k_shot = 0 give no sets.
    """
    needed = ("slick_exemplar_sets", "slick_greedy_correct", "slick_group")
    if not rows or any(name not in table.column_names for name in needed):
        return ExemplarSetHealth()
    # The metadata lists sets per exemplar pool ("P36", "P36 [long-form]"); files from
    # before pools had one pool per group.
    wanted = [*needed, *(["slick_exemplar_pool"] if "slick_exemplar_pool" in table.column_names
                        else [])]
    picked = table.select(wanted).take(pa.array(rows, pa.int64()))
    sets = picked.column("slick_exemplar_sets").combine_chunks()
    correct = picked.column("slick_greedy_correct").combine_chunks()
    # One answer per prompt: a row whose lists disagree in length cannot be attributed.
    same = pc.fill_null(pc.equal(pc.list_value_length(sets), pc.list_value_length(correct)),
                        False)
    sets, correct = sets.filter(same), correct.filter(same)
    group = picked.column("slick_group").combine_chunks()
    if "slick_exemplar_pool" in picked.column_names:
        group = pc.coalesce(picked.column("slick_exemplar_pool").combine_chunks(), group)
    groups = pc.fill_null(group.filter(same), "")
    encoded = pc.dictionary_encode(groups)
    names = encoded.dictionary.to_pylist()

    flat_set = pc.fill_null(pc.list_flatten(sets), -1).to_numpy(zero_copy_only=False)
    flat_ok = pc.list_flatten(correct)
    keep = (flat_set >= 0) & ~pc.is_null(flat_ok).to_numpy(zero_copy_only=False)
    row_of = pc.list_parent_indices(sets).to_numpy(zero_copy_only=False)[keep]
    code = encoded.indices.to_numpy(zero_copy_only=False)[row_of].astype(np.int64)
    index = flat_set[keep].astype(np.int64)
    ok = pc.fill_null(flat_ok, False).to_numpy(zero_copy_only=False)[keep].astype(np.int64)
    if not len(index):
        return ExemplarSetHealth()

    width = int(index.max()) + 1
    # A small group's row can use one set for several prompts: count each (row, set) once
    # for the set's rows. Prompts come row by row, so the stable sort is nearly a no-op.
    pair = row_of.astype(np.int64) * width + index
    order = np.argsort(pair, kind="stable")
    first = np.ones(len(pair), np.int64)
    first[order[1:][pair[order[1:]] == pair[order[:-1]]]] = 0
    flat = pa.table({"g": code, "i": index, "ok": ok, "first": first})
    per_set = flat.group_by(["g", "i"]).aggregate(
        [("ok", "sum"), ("ok", "count"), ("first", "sum")]).sort_by([("g", "ascending"),
                                                                    ("i", "ascending")])
    used = np.zeros(len(sets), bool)
    used[row_of] = True
    group_rows = np.bincount(encoded.indices.to_numpy(zero_copy_only=False)[used],
                             minlength=len(names))

    tallies: dict[int, list[_Tally]] = {}
    rows_of: dict[tuple[int, int], int] = {}
    for g, i, c, n, r in zip(*(per_set.column(name).to_pylist() for name in
                                ("g", "i", "ok_sum", "ok_count", "first_sum")),
                             strict=True):
        tallies.setdefault(g, []).append(_Tally(i, n, c))
        rows_of[g, i] = r
    min_z = z_threshold(len(rows_of))
    for group in tallies.values():
        flag_outliers(group, min_z=min_z)
    # Only listed sets become models: a huge file can have a million sets.
    flagged = sorted(((g, t) for g, group in tallies.items() for t in group if t.outlier),
                     key=lambda gt: (-abs(_z(gt[1])), gt[0], gt[1].index))
    shown = flagged[:limit]
    listed = {(g, t.index) for g, t in shown}
    rank = {g: (-int(group_rows[g]), names[g] or "") for g in tallies}
    for g in sorted(tallies, key=rank.__getitem__):
        new = [t for t in tallies[g] if (g, t.index) not in listed]
        if len(listed) + len(new) > limit:
            break
        listed.update((g, t.index) for t in new)
    bad_groups = {g for g, _ in shown}
    order = sorted(listed, key=lambda gi: (gi[0] not in bad_groups, rank[gi[0]], gi[1]))

    recorded = metadata.get("exemplar_sets")
    recorded = recorded if isinstance(recorded, Mapping) else {}
    n_main = int((metadata.get("params") or {}).get("n_prompts") or 0) or width
    by_key = {(g, t.index): t for g, group in tallies.items() for t in group}
    out = []
    for g, i in order:
        t, name = by_key[g, i], names[g] or ""
        ids = recorded.get(name)
        members = ids[i] if isinstance(ids, list) and i < len(ids) else None
        z = two_proportion_z(t.correct, t.prompts, t.rest_correct, t.rest_prompts)
        rest = t.rest_correct / t.rest_prompts if t.rest_prompts else None
        out.append(ExemplarSetPublic(
            group=name, index=i, spare=i >= n_main,
            exemplar_ids=[str(x) for x in members] if isinstance(members, list) else [],
            group_sets=len(tallies[g]), rows=rows_of[g, i], prompts=t.prompts,
            correct=t.correct, accuracy=t.correct / t.prompts, rest_prompts=t.rest_prompts,
            rest_correct=t.rest_correct, rest_accuracy=rest,
            z=None if z is None else round(z, 2), outlier=t.outlier,
            reason=_reason(t.correct / t.prompts, rest, z) if t.outlier else None))
    return ExemplarSetHealth(sets=out, total=len(by_key), flagged=len(flagged),
                             min_z=round(min_z, 2))


def _z(t: _Tally) -> float:
    return two_proportion_z(t.correct, t.prompts, t.rest_correct, t.rest_prompts) or 0.0


def _reason(accuracy: float, rest: float | None, z: float | None) -> str:
    if rest is None or z is None:  # pragma: no cover - a flagged set always has a reference
        return "outlier"
    direction = "below" if accuracy < rest else "above"
    return (f"{100 * accuracy:.1f}% correct vs {100 * rest:.1f}% on the group's other sets: "
            f"{100 * abs(accuracy - rest):.1f} points {direction} (z = {z:.1f})")
