"""Fast mode (teacher-forced gold answers) against adaptive sampling on the real model."""

from __future__ import annotations

import pytest

from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun

pytestmark = pytest.mark.model


def probe(engine, dataset, exemplars, **params):
    run = ProbeRun(dataset, ProbeParams(**params), exemplars=exemplars, shard_size=20)
    return run.annotate([run.probe_shard(engine, rows) for _, rows in run.shards()], {})


def test_fast_mode_agrees_with_adaptive(hf_engine, p36_20, p36_dev):
    fast = probe(hf_engine, p36_20, p36_dev, mode="fast").to_pylist()
    adaptive = probe(hf_engine, p36_20, p36_dev, mode="adaptive").to_pylist()
    for f, a in zip(fast, adaptive, strict=True):
        # Teacher-forced greedy-correct means greedy decoding writes exactly a gold alias.
        for fast_ok, real_ok in zip(f["slick_greedy_correct"], a["slick_greedy_correct"], strict=True):
            assert real_ok or not fast_ok, (f, a)
        assert f["slick_n_samples"] == 0 and 0.0 <= f["slick_p_sample"] <= 1.0
    agree = sum(f["slick_category"] == a["slick_category"] for f, a in zip(fast, adaptive, strict=True))
    assert agree / len(fast) >= 0.85, [(f["slick_category"], a["slick_category"]) for f, a in zip(fast, adaptive)]
