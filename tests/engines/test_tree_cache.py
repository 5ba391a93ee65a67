"""The prefix grid of tree attention: a batch of some rows sees the same prefixes."""

from __future__ import annotations

import torch

from slick_curator.engines.tree_cache import Grid


def _grid(prefixes: int) -> Grid:
    # prefix c's keys and values are all c, so a row's prefix can be read off them
    k = [torch.arange(prefixes, dtype=torch.float32)[:, None, None, None].expand(
        prefixes, 1, 3, 2).clone()]
    lengths = torch.tensor([3] * prefixes)
    return Grid(k, [t.clone() for t in k], lengths, torch.tensor([0, 0, 1, 2, 3, 3]))


def _prefix_of_each_row(grid: Grid) -> list[int]:
    return [int(grid.k[0][c, 0, 0, 0]) for c in grid.c_idx.tolist()]


def test_rows_of_most_prefixes_share_the_grid_and_the_others_get_a_copy():
    grid = _grid(4)
    most = grid.select(torch.tensor([1, 2, 3, 5]))  # prefixes 0, 1, 2, 3: all of them
    assert most.k[0] is grid.k[0]
    assert _prefix_of_each_row(most) == [0, 1, 2, 3]
    few = grid.select(torch.tensor([4, 0]))  # prefixes 3 and 0: half
    assert few.k[0].shape[0] == 2 and few.k[0] is not grid.k[0]
    assert _prefix_of_each_row(few) == [3, 0]
    assert few.lengths.tolist() == [3, 3]
    # and a selection of a selection
    assert _prefix_of_each_row(most.select(torch.tensor([3, 0]))) == [3, 0]


def test_the_prefix_store_is_bounded_by_bytes_and_keeps_the_newest():
    from slick_curator.engines.tree_cache import PrefixStore

    def kv(tokens: int):  # one layer, 4 bytes a value: 8 bytes a token for keys and values
        return [torch.zeros(tokens)], [torch.zeros(tokens)]

    store = PrefixStore(capacity=800)
    store.put((1,), kv(40))
    store.put((2,), kv(40))  # 640 bytes held
    assert store.get((1,)) is not None  # (1,) is now the most recently used
    store.put((3,), kv(40))  # 960 > 800: the least recently used, (2,), goes
    assert store.get((2,)) is None and store.get((1,)) is not None and store.held == 640
    store.put((4,), kv(200))  # over capacity alone: kept, everything else goes
    assert list(store.entries) == [(4,)] and store.held == 1600


def test_a_batch_of_the_tree_decoder_bounds_its_prompts_and_its_prefix_grid(monkeypatch):
    from slick_curator.engines import hf_tree

    monkeypatch.setattr(hf_tree, "MAX_GRID_TOKENS", 1000)
    decoder = hf_tree.TreeDecoder.__new__(hf_tree.TreeDecoder)
    decoder.max_rows = 4
    # six prompts on two 300-token prefixes, then three on prefixes of 600, 900 and 1200
    tokens = ([[1] * 300 + [9, k] for k in range(3)] + [[2] * 300 + [9, k] for k in range(3)]
              + [[3] * 600 + [9], [4] * 900 + [9], [5] * 1200 + [9]])
    placed = [(300, i) for i in range(6)] + [(600, 6), (900, 7), (1200, 8)]
    chunks = [[i for _, i in chunk] for chunk in decoder._chunks(placed, tokens)]
    # 4 prompts at most; 2 x 300 fit, 2 x 600 do not; one prefix over the bound still runs
    assert chunks == [[0, 1, 2, 3], [4, 5], [6], [7], [8]]
