from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slick_curator.probing.prompts import (
    ExemplarError,
    ExemplarPool,
    build_prompts,
    chat_messages,
    plain_prompt,
)
from slick_curator.probing.records import Example


def make(n: int, group: str = "P36", start: int = 0) -> list[Example]:
    return [Example(row=start + i, question=f"Q{i}?", answers=(f"A{i}", f"alias{i}"), group=group)
            for i in range(n)]


def test_plain_prompt_format_uses_first_alias():
    shots = make(2)
    assert plain_prompt(shots, "Where?") == "Q: Q0?\nA: A0\n\nQ: Q1?\nA: A1\n\nQ: Where?\nA:"


def test_chat_messages_alternate_and_end_with_user():
    msgs = chat_messages(make(2), "Where?")
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[-1]["content"] == "Where?"


def test_every_row_gets_n_prompts_of_k_exemplars_without_itself():
    rows = make(12)
    pool = ExemplarPool(rows, n_prompts=10, k_shot=4, seed=0)
    for row in rows:
        sets = pool.exemplars_for(row)
        assert len(sets) == 10
        for exemplars in sets:
            assert len(exemplars) == 4
            assert len({e.question for e in exemplars}) == 4
            assert row.question not in {e.question for e in exemplars}


def test_duplicate_question_is_excluded_even_under_another_row():
    rows = make(6) + [Example(row=6, question="q0?", answers=("x",), group="P36")]
    pool = ExemplarPool(rows, n_prompts=10, k_shot=4, seed=1)
    for exemplars in pool.exemplars_for(rows[0]):
        assert all(e.question.casefold() != "q0?" for e in exemplars)


def test_exemplar_sets_are_shared_by_rows_of_a_group_and_fixed_by_seed():
    rows = make(40)
    pool = ExemplarPool(rows, n_prompts=10, k_shot=4, seed=3)
    # Rows not among the drawn exemplars see the identical sets -> shared prompt prefixes.
    drawn = {e.row for s in pool.exemplars_for(rows[0]) for e in s}
    outsiders = [r for r in rows if r.row not in drawn][:2]
    a, b = (pool.exemplars_for(r) for r in outsiders)
    assert [[e.row for e in s] for s in a] == [[e.row for e in s] for s in b]
    again = ExemplarPool(rows, n_prompts=10, k_shot=4, seed=3).exemplars_for(outsiders[0])
    assert [[e.row for e in s] for s in again] == [[e.row for e in s] for s in a]
    other_seed = ExemplarPool(rows, n_prompts=10, k_shot=4, seed=4).exemplars_for(outsiders[0])
    assert [[e.row for e in s] for s in other_seed] != [[e.row for e in s] for s in a]


def test_exemplars_come_from_the_same_group():
    rows = make(8, "P36") + make(8, "P17", start=8)
    pool = ExemplarPool(rows, n_prompts=5, k_shot=4, seed=0)
    for row in rows:
        assert {e.group for s in pool.exemplars_for(row) for e in s} == {row.group}


def test_separate_exemplar_pool_can_hold_the_probed_question():
    pool_rows = make(6)
    probed = Example(row=0, question="Q2?", answers=("A2",), group="P36")
    pool = ExemplarPool(pool_rows, n_prompts=10, k_shot=4, seed=0)
    pool.check([probed])
    for exemplars in pool.exemplars_for(probed):
        assert "Q2?" not in {e.question for e in exemplars}
        assert len(exemplars) == 4


def test_small_group_is_reported_by_name():
    rows = make(4)
    pool = ExemplarPool(rows, n_prompts=10, k_shot=4, seed=0)
    with pytest.raises(ExemplarError, match="group 'P36' has 4 distinct exemplar questions"):
        pool.check(rows)


def test_missing_group_in_exemplar_file_is_reported():
    pool = ExemplarPool(make(8, "P17"), n_prompts=2, k_shot=2, seed=0)
    with pytest.raises(ExemplarError, match="group 'P36' has no exemplars; available groups: P17"):
        pool.check(make(1, "P36"))


def test_zero_shot_needs_no_pool():
    pool = ExemplarPool([], n_prompts=3, k_shot=0, seed=0)
    row = make(1)[0]
    pool.check([row])
    prompts, ids = build_prompts(row, pool)
    assert prompts == ["Q: Q0?\nA:"] * 3 and ids == [[], [], []]


def test_build_prompts_returns_ids_and_chat_needs_a_renderer():
    rows = [Example(row=i, question=f"Q{i}?", answers=(f"A{i}",), id=f"id{i}") for i in range(6)]
    pool = ExemplarPool(rows, n_prompts=2, k_shot=3, seed=0)
    prompts, ids = build_prompts(rows[0], pool)
    assert len(prompts) == 2 and all(len(i) == 3 and all(x.startswith("id") for x in i) for i in ids)
    with pytest.raises(ValueError, match="chat"):
        build_prompts(rows[0], pool, prompt_format="chat")
    rendered, _ = build_prompts(rows[0], pool, prompt_format="chat", render_chat=lambda m: str(len(m)))
    assert rendered == ["7", "7"]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(6, 30), k=st.integers(1, 5), n_prompts=st.integers(1, 12), seed=st.integers(0, 99),
       dupes=st.integers(0, 5))
def test_property_no_prompt_contains_its_own_question(n, k, n_prompts, seed, dupes):
    rows = make(n) + [Example(row=n + i, question=f"Q{i}?", answers=("z",), group="P36")
                      for i in range(dupes)]
    pool = ExemplarPool(rows, n_prompts=n_prompts, k_shot=k, seed=seed)
    pool.check(rows)
    for row in rows:
        for exemplars in pool.exemplars_for(row):
            questions = [e.question.casefold() for e in exemplars]
            assert row.question.casefold() not in questions
            assert len(set(questions)) == len(questions) == k


def test_main_sets_are_distinct_and_a_row_inside_one_takes_a_shared_spare():
    rows = make(40)
    pool = ExemplarPool(rows, n_prompts=10, k_shot=4, seed=0)
    main = pool.exemplar_sets("P36")[:10]
    assert len({frozenset(e.question for e in s) for s in main}) == 10
    inside = [r for r in rows if r.question in {e.question for e in main[3]}]
    assert len(inside) == 4
    for row in inside:
        indices = pool.set_indices(row)
        assert indices[3] >= 10 and len(set(indices)) == 10  # a spare, all distinct
        assert all(indices[i] == i for i in range(10) if i != 3 and
                   row.question not in {e.question for e in main[i]})
    # Rows needing a spare at the same position share it (and so its prompt prefix), unless
    # the first spare holds one of them.
    spares = [pool.set_indices(r)[3] for r in inside]
    assert len(set(spares)) <= 2


def test_a_row_sets_depend_only_on_pool_group_seed_and_question():
    rows = make(40)
    pool = ExemplarPool(rows, n_prompts=10, k_shot=4, seed=2)
    # Asking for rows in another order (spares drawn in another order) changes nothing.
    forward = [pool.set_indices(r) for r in rows]
    backward = ExemplarPool(rows, n_prompts=10, k_shot=4, seed=2)
    assert [backward.set_indices(r) for r in reversed(rows)][::-1] == forward
    probed = Example(row=999, question="Q7?", answers=("x",), group="P36")
    assert pool.set_indices(probed) == pool.set_indices(rows[7])


def test_small_group_repeats_sets_and_says_so():
    rows = make(5)  # C(4, 4) = 1 set leaves out a row's own question
    pool = ExemplarPool(rows, n_prompts=10, k_shot=4, seed=0)
    pool.check(rows)
    (warning,) = pool.warnings(rows)
    assert "group 'P36'" in warning and "only 1 distinct sets" in warning
    for row in rows:
        for exemplars in pool.exemplars_for(row):
            assert len(exemplars) == 4 and row.question not in {e.question for e in exemplars}
    big = make(40)
    assert ExemplarPool(big, n_prompts=10, k_shot=4, seed=0).warnings(big) == []


def test_row_prompts_records_each_prompt_set():
    from slick_curator.probing.prompts import row_prompts

    rows = make(12)
    pool = ExemplarPool(rows, n_prompts=3, k_shot=2, seed=0)
    built = row_prompts(rows[0], pool)
    sets = pool.exemplar_sets("P36")
    for prompt, index, ids in zip(built.prompts, built.sets, built.exemplar_ids, strict=True):
        assert [f"row:{e.row}" for e in sets[index]] == ids
        assert all(f"Q: {e.question}\n" in prompt for e in sets[index])
