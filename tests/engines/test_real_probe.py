"""The SliCK protocol on the real model through both real engines."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun

pytestmark = pytest.mark.model


def probe(engine, dataset, exemplars=None, **params):
    params = ProbeParams(**{"mode": "adaptive", **params})
    run = ProbeRun(dataset, params, exemplars=exemplars, shard_size=10)
    shards = [run.probe_shard(engine, rows) for _, rows in run.shards()]
    return run.annotate(shards, run.metadata(engine.info()))


@pytest.fixture(scope="module")
def hf_adaptive(hf_engine, p36_20, p36_dev):
    return probe(hf_engine, p36_20, p36_dev)


def check_thresholds(table):
    for row in table.to_pylist():
        n_correct, n = row["slick_n_greedy_correct"], row["slick_n_greedy"]
        assert row["slick_p_greedy"] == n_correct / n
        expected = (
            "HighlyKnown" if n_correct == n
            else "MaybeKnown" if n_correct > 0
            else "WeaklyKnown" if row["slick_n_sample_correct"] > 0
            else "Unknown"
        )
        assert row["slick_category"] == expected, row
        assert n_correct == sum(row["slick_greedy_correct"])


def test_transformers_probe_rows_in_equal_rows_out_and_thresholds(hf_adaptive, p36_20):
    assert hf_adaptive.num_rows == p36_20.table.num_rows == 20
    assert hf_adaptive.column("question").to_pylist() == p36_20.table.column("question").to_pylist()
    check_thresholds(hf_adaptive)
    categories = set(hf_adaptive.column("slick_category").to_pylist())
    # SmolLM2-135M knows some capitals and not others: the probe must see both.
    assert "Unknown" in categories and categories & {"HighlyKnown", "MaybeKnown"}, categories


def test_vllm_gives_the_same_greedy_answers(vllm_engine, hf_adaptive, p36_20, p36_dev):
    # Greedy answers do not depend on the sampling settings; 4 samples per prompt keep the
    # vLLM run (which cannot stop hopeless samples early) short on a 2-core CI machine.
    vllm_table = probe(vllm_engine, p36_20, p36_dev, n_samples=4)
    assert vllm_table.num_rows == 20
    check_thresholds(vllm_table)
    hf_answers = hf_adaptive.column("slick_greedy_answers").to_pylist()
    vllm_answers = vllm_table.column("slick_greedy_answers").to_pylist()
    assert sum(len(a) for a in hf_answers) == 200
    assert vllm_answers == hf_answers
    assert (vllm_table.column("slick_exemplar_ids").to_pylist()
            == hf_adaptive.column("slick_exemplar_ids").to_pylist())


def test_vllm_does_not_end_a_continuing_answer_at_its_first_token(vllm_engine, hf_engine):
    from slick_curator.engines.base import GenerationRequest, SamplingParams

    # After a complete sentence the model ends the answer; `continues` says it goes on.
    finished = ("Q: What is the capital of Kenya?\nA: The capital of Kenya is Nairobi.\n"
                "Q: What is the capital of France?\nA: The capital of France is Paris.")
    greedy = SamplingParams(temperature=0.0, max_new_tokens=8)
    requests = [GenerationRequest(finished, greedy),
                GenerationRequest(finished, greedy, continues=True)]
    vllm_texts = [r.texts for r in vllm_engine.generate(requests)]
    assert vllm_texts[0] == [""] and vllm_texts[1][0].strip()
    assert vllm_texts == [r.texts for r in hf_engine.generate(requests)]


def test_adaptive_agrees_with_full(hf_engine, hf_adaptive, p36_20, p36_dev):
    full = probe(hf_engine, p36_20, p36_dev, mode="full")
    check_thresholds(full)
    # Greedy decoding is deterministic: identical greedy fields.
    for column in ("slick_greedy_answers", "slick_greedy_correct", "slick_p_greedy"):
        assert full.column(column).to_pylist() == hf_adaptive.column(column).to_pylist()
    assert all(n == 160 for n in full.column("slick_n_samples").to_pylist())
    # Categories decided by greedy answers are identical; the WeaklyKnown/Unknown split rests
    # on sampling, so it may differ only for rows whose full-mode P_sample is small.
    for a, f in zip(hf_adaptive.to_pylist(), full.to_pylist(), strict=True):
        if f["slick_category"] in ("HighlyKnown", "MaybeKnown"):
            assert a["slick_category"] == f["slick_category"]
        elif a["slick_category"] != f["slick_category"]:
            # P(zero hits in 160 draws) >= 1% needs p_sample <= ~2.9%.
            assert (f["slick_p_sample"] or 0) <= 0.03, (a, f)
    adaptive_samples = pc.sum(hf_adaptive.column("slick_n_samples")).as_py()
    assert adaptive_samples < pc.sum(full.column("slick_n_samples")).as_py()
