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
