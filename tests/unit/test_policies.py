"""Curation policies: actions and reasons per row, thresholds, caps, group minimum, and
rows in = kept + dropped + relabelled (property-tested)."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from annotated_helpers import synthetic
from hypothesis import given, settings
from hypothesis import strategies as st
from slick_client.schemas import CATEGORIES, CurationParams
from slick_curator.curation import AnnotatedFile, curate, decide
from slick_curator.curation.params import CurationParamsError, build_params, parse_caps

H, M, W, U = CATEGORIES
MIXED = [H, M, W, U, None, H, U, M]


def run(categories, **params):
    return decide(synthetic(categories), CurationParams(**params))


def test_filter_drops_unknown_and_skipped_rows_and_says_why():
    d = run(MIXED)
    assert d.actions == ["keep", "keep", "keep", "drop", "drop", "keep", "drop", "keep"]
    assert d.reasons == ["known: HighlyKnown", "known: MaybeKnown", "known: WeaklyKnown",
                         "unknown: Unknown", "skipped: answer: missing", "known: HighlyKnown",
                         "unknown: Unknown", "known: MaybeKnown"]


def test_relabel_and_keep_act_only_on_unknown_rows():
    assert run(MIXED, policy="relabel").actions == [
        "keep", "keep", "keep", "relabel", "drop", "keep", "relabel", "keep"]
    kept = run(MIXED, policy="keep")
    assert kept.actions == ["keep"] * 4 + ["drop"] + ["keep"] * 3
    assert kept.reasons[3] == "unknown: Unknown (policy keep)"


def test_weakly_known_can_count_as_unknown():
    d = run(MIXED, unknown=("Unknown", "WeaklyKnown"))
    assert d.actions[2] == "drop" and d.reasons[2] == "unknown: WeaklyKnown"


def test_summary_counts_add_up_per_category():
    s = run(MIXED, policy="relabel").summary(CurationParams(policy="relabel"))
    assert (s.rows, s.kept, s.dropped, s.relabelled) == (8, 5, 1, 2)
    assert s.by_category["Unknown"] == {"keep": 0, "drop": 0, "relabel": 2}
    assert s.by_category["skipped"] == {"keep": 0, "drop": 1, "relabel": 0}
    assert s.reasons["known: HighlyKnown"] == 2 and s.reasons["skipped: answer"] == 1


def test_p_greedy_threshold_replaces_categories():
    table = synthetic([H, M, M, U], p_greedy=[1.0, 0.3, 0.6, 0.0])
    d = decide(table, CurationParams(min_p_greedy=0.5))
    assert d.actions == ["keep", "drop", "keep", "drop"]
    assert d.reasons[1] == "unknown: P_greedy < 0.5"
    assert d.reasons[2] == "known: P_greedy >= 0.5"


def test_p_sample_threshold_falls_back_to_the_category_when_not_measured():
    # Adaptive mode: rows with a right greedy answer and WeaklyKnown rows that stopped at
    # their first correct sample have a null P_sample; Unknown rows have an exact 0.
    table = synthetic([H, W, W, U, W], p_sample=[None, None, 0.02, 0.0, 0.2])
    d = decide(table, CurationParams(min_p_sample=0.1))
    assert d.actions == ["keep", "keep", "drop", "drop", "keep"]
    assert d.reasons[0] == "known: P_sample not measured, HighlyKnown"
    assert d.reasons[2] == "unknown: P_sample < 0.1"
    strict = decide(table, CurationParams(min_p_sample=0.1, unknown=("Unknown", "WeaklyKnown")))
    assert strict.actions[1] == "drop"  # the fallback uses `unknown`


def test_both_thresholds_known_if_either_passes():
    table = synthetic([M, W, U], p_greedy=[0.2, 0.0, 0.0], p_sample=[0.05, 0.5, 0.0])
    d = decide(table, CurationParams(min_p_greedy=0.5, min_p_sample=0.25))
    assert d.actions == ["drop", "keep", "drop"]
    assert d.reasons[0] == "unknown: P_greedy < 0.5 and P_sample < 0.25"
    assert d.reasons[1] == "known: P_greedy < 0.5 or P_sample >= 0.25"


def test_cap_limits_a_category_share_with_a_seeded_pick():
    categories = [H] * 8 + [M] * 2
    d = run(categories, max_share=0.5)
    out = Counter(c for c, a in zip(categories, d.actions, strict=True) if a != "drop")
    assert out == {H: 2, M: 2}  # HighlyKnown may be at most half: 2 of 4
    assert Counter(d.reasons)["cap: HighlyKnown over 50% of the output"] == 6
    assert run(categories, max_share=0.5).actions == d.actions  # deterministic
    other = [run(categories, max_share=0.5, seed=s).actions for s in range(1, 6)]
    assert any(a != d.actions for a in other)  # the seed picks which rows


def test_cap_for_one_category_only():
    categories = [H] * 6 + [M] * 3 + [W]
    d = run(categories, caps={H: 0.5})
    out = Counter(c for c, a in zip(categories, d.actions, strict=True) if a != "drop")
    assert out == {H: 4, M: 3, W: 1}


def test_caps_that_cannot_hold_warn_and_keep_nothing():
    d = run([H] * 5, max_share=0.5)
    assert d.actions == ["drop"] * 5
    assert any("leave no rows" in w for w in d.warnings)


def test_group_minimum_restores_best_known_rows_first():
    table = synthetic([H, U, W, W, H, U], groups=["a", "b", "b", "b", "a", "c"],
                      p_sample=[None, 0.0, 0.1, 0.3, None, 0.0])
    d = decide(table, CurationParams(min_per_group=2, unknown=("Unknown", "WeaklyKnown")))
    assert d.actions == ["keep", "drop", "keep", "keep", "keep", "keep"]
    assert d.reasons[1] == "unknown: Unknown"
    assert d.reasons[2] == "group minimum: b needs 2 rows (WeaklyKnown)"
    assert d.warnings == ["group c has 1 usable row(s), fewer than the minimum 2"]


def test_group_minimum_wins_over_caps_and_restores_relabels():
    categories = [H, H, H, U, U, U]
    table = synthetic(categories, groups=["a", "a", "a", "b", "b", "b"])
    d = decide(table, CurationParams(policy="relabel", caps={U: 0.25}, min_per_group=2))
    assert d.actions[:3] == ["keep"] * 3
    assert sorted(d.actions[3:]) == ["drop", "relabel", "relabel"]


def test_params_from_strings():
    assert parse_caps(["HighlyKnown=0.5", "Unknown:20%"]) == {H: 0.5, U: 0.2}
    params = build_params(policy="relabel", unknown=["Unknown,WeaklyKnown"], cap="MaybeKnown:1")
    assert params.unknown == (U, W) and params.caps == {M: 1.0}
    for kwargs, param in [({"cap": "Highly:0.5"}, "cap"), ({"cap": "HighlyKnown"}, "cap"),
                          ({"cap": "HighlyKnown:lots"}, "cap"), ({"unknown": "x"}, "unknown"),
                          ({"policy": "drop"}, "policy"), ({"max_share": 0}, "max_share"),
                          ({"min_per_group": -1}, "min_per_group"), ({"abstention": ""},
                                                                     "abstention")]:
        with pytest.raises(CurationParamsError) as info:
            build_params(**kwargs)
        assert info.value.param == param


category_lists = st.lists(st.sampled_from([*CATEGORIES, None]), min_size=0, max_size=60)


@settings(max_examples=150, deadline=None)
@given(categories=category_lists, policy=st.sampled_from(["filter", "relabel", "keep"]),
       share=st.none() | st.floats(0.05, 1.0), minimum=st.integers(0, 6),
       seed=st.integers(0, 2**31 - 1), groups=st.integers(1, 4))
def test_every_row_is_accounted_for(categories, policy, share, minimum, seed, groups):
    names = [f"g{i % groups}" for i in range(len(categories))]
    table = synthetic(categories, groups=names)
    params = CurationParams(policy=policy, max_share=share, min_per_group=minimum, seed=seed)
    d = decide(table, params)
    s = d.summary(params)
    assert s.rows == len(categories) == s.kept + s.dropped + s.relabelled
    assert len(d.reasons) == len(categories) and all(d.reasons)
    for c, a in zip(categories, d.actions, strict=True):
        if c is None:
            assert a == "drop"  # skipped rows never come back
        if policy == "filter" and a == "relabel" or policy != "relabel" and a == "relabel":
            raise AssertionError("relabel only under the relabel policy")
        if policy == "relabel" and c == "Unknown":
            assert a in ("relabel", "drop")
    out = Counter(c for c, a in zip(categories, d.actions, strict=True) if a != "drop")
    total = sum(out.values())
    if share is not None and not minimum:
        assert all(n <= math.floor(share * total + 1e-9) for n in out.values())
    if minimum:
        usable = Counter(g for g, c in zip(names, categories, strict=True) if c is not None)
        have = Counter(g for g, a in zip(names, d.actions, strict=True) if a != "drop")
        assert all(have[g] >= min(minimum, n) for g, n in usable.items())
    assert decide(table, params).actions == d.actions  # deterministic


@settings(max_examples=60, deadline=None)
@given(categories=st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=40),
       share=st.floats(0.05, 1.0))
def test_caps_keep_the_most_rows_they_allow(categories, share):
    d = run(categories, policy="keep", max_share=share)
    counts = Counter(categories)
    kept = sum(a == "keep" for a in d.actions)
    # No larger output could satisfy the cap: N + 1 rows would need more than exist.
    bigger = kept + 1
    assert kept == len(categories) or sum(
        min(n, math.floor(share * bigger + 1e-9)) for n in counts.values()) < bigger


def test_curate_appends_action_and_reason_and_records_params():
    annotated = AnnotatedFile.from_table(synthetic(MIXED))
    curated = curate(annotated, CurationParams(policy="relabel"))
    table = curated.table
    assert table.column_names[-2:] == ["slick_action", "slick_reason"]
    assert table.num_rows == 8 and curated.output().num_rows == 7
    assert curated.output(all_rows=True).num_rows == 8
    assert table.column("answer").to_pylist()[3] == "I don't know."
    assert table.column("answer").to_pylist()[0] == "a0"
    assert b"slick_curation" in table.schema.metadata
    assert not any(c.startswith("slick_") for c in curated.output(drop_annotations=True)
                   .column_names)
