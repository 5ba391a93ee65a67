"""KV branch planning and padded caches (no model): the trie, its cost rule, stacking rows."""

from __future__ import annotations

import pytest
import torch

from slick_curator.engines import hf_branches
from slick_curator.engines.hf_branches import Branches, plan_branches, stack
from slick_curator.engines.transformers_engine import token_span

QUESTION = list(range(100, 160))  # one row's prompt after the cluster prefix: 60 tokens


def fact_prompts(question, heads):
    """Token lists of a row's fact probes: the question, then answer heads that nest."""
    return [question + head for head in heads]


def test_every_prompt_prefills_exactly_its_tokens_below_its_node():
    heads = [[1], [1] + list(range(10)), [1] + list(range(20))]
    lists = fact_prompts(QUESTION, heads) + [[50] * 30]
    plan = plan_branches(lists)
    # The row's three probes share the question; the fourth prompt shares nothing.
    assert plan.parent[3] == -1 and plan.start[3] == 0
    for i in range(3):
        node = plan.nodes[plan.parent[i]]
        covered = lists[node.member][: node.end]
        assert lists[i][: node.end] == covered and plan.start[i] == node.end < len(lists[i])
    computed = sum(n.end - n.start for n in plan.nodes) + sum(
        len(t) - s for t, s in zip(lists, plan.start, strict=True))
    assert plan.saved == sum(map(len, lists)) - computed > 0


def test_nested_heads_make_a_deep_trie_when_levels_are_free(monkeypatch):
    monkeypatch.setattr(hf_branches, "LEVEL_COST_TOKENS", 0)
    monkeypatch.setattr(hf_branches, "NODE_COST_TOKENS", 0)
    heads = [[1], [1] + list(range(10)), [1] + list(range(20))]
    plan = plan_branches(fact_prompts(QUESTION, heads))
    assert plan.depth == 2  # question + "1"; then the second head, shared by facts 2 and 3
    assert [(n.start, n.end, n.depth) for n in plan.nodes] == [(0, 60, 0), (60, 70, 1)]
    assert plan.saved == 60 * 2 + 10


def test_a_level_saving_less_than_a_forward_costs_is_dropped():
    short = [list(range(10)) + [1], list(range(10)) + [2]]  # 10 shared tokens, 2 prompts
    assert plan_branches(short).nodes == [] and plan_branches(short).saved == 0


def test_limits_keep_the_positions_whose_logits_are_needed_out_of_branches():
    lists = [QUESTION + [1, 2, k] for k in (3, 4, 5)]
    plan = plan_branches(lists, limits=[50, 50, 50])
    assert [(n.start, n.end) for n in plan.nodes] == [(0, 50)] and plan.start == [50, 50, 50]


def test_duplicate_prompts_share_all_but_their_last_token():
    plan = plan_branches([QUESTION, QUESTION, QUESTION])
    assert plan.start == [59, 59, 59] and plan.saved == 59 * 2


def branches(widths, lengths, fill):
    rows = len(lengths)
    kv = [(torch.full((rows, 2, widths, 3), float(fill)), torch.full((rows, 2, widths, 3), -1.0))]
    mask = torch.zeros((rows, widths), dtype=torch.long)
    for r, n in enumerate(lengths):
        mask[r, :n] = 1
    return Branches(kv, mask, list(lengths))


def test_stack_pads_rows_of_narrower_sources_and_keeps_the_requested_order():
    a, b = branches(4, [4, 3], fill=1), branches(6, [6], fill=2)
    out = stack([(b, 0), (a, 1), (a, 0)])
    assert out.width == 6 and out.length == [6, 3, 4]
    assert out.mask.tolist() == [[1] * 6, [1, 1, 1, 0, 0, 0], [1] * 4 + [0, 0]]
    keys = out.kv[0][0]
    assert keys[0].eq(2).all() and keys[1, :, :4].eq(1).all() and keys[1, :, 4:].eq(0).all()


def test_stack_of_one_source_copies_its_rows():
    root = branches(5, [5], fill=3)
    out = stack([(root, 0)] * 4)
    assert out.kv[0][0].shape == (4, 2, 5, 3) and out.length == [5] * 4
    out.kv[0][0][0].zero_()  # a copy: the shared prefix is never written through a row
    assert root.kv[0][0].eq(3).all()


# "The is Nairobi." as "The" " is" " Nairobi" ".", with their character offsets
OFFSETS = [(0, 3), (3, 6), (6, 14), (14, 15)]


@pytest.mark.parametrize("start, end, expected", [
    (7, 14, (2, 3)),  # "Nairobi": the token " Nairobi" straddles the start, so it belongs
    (6, 14, (2, 3)),  # the same with its space
    (0, 3, (0, 1)),
    (7, 15, (2, 4)),
    (4, 5, (1, 2)),  # a span ending inside a token takes the whole token
])
def test_token_span_takes_the_tokens_that_overlap_the_characters(start, end, expected):
    assert token_span(OFFSETS, start, end) == expected


def test_token_span_of_no_token_is_an_error():
    with pytest.raises(ValueError, match="no token"):
        token_span(OFFSETS, 15, 16)
