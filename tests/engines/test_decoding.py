"""The transformers engine's decoding loop against plain `generate`, one prompt at a time."""

from __future__ import annotations

import pytest

from slick_curator.engines.base import GenerationRequest, SamplingParams
from slick_curator.engines.hf_decoding import batch_chunks, cluster_by_prefix
from slick_curator.probing.matching import Matcher
from slick_curator.probing.prompts import ExemplarPool, build_prompts


def test_cluster_by_prefix_groups_shared_prefixes_and_keeps_last_token():
    a, b, c = [1] * 10 + [2, 3], [1] * 10 + [4], [9, 9, 9]
    clusters = cluster_by_prefix([a, b, c], min_prefix=8)
    assert sorted((p, sorted(m)) for p, m in clusters) == [(2, [2]), (10, [0, 1])]
    assert cluster_by_prefix([[5, 6]], min_prefix=1) == [(1, [0])]


def test_frugal_clusters_keep_two_exemplar_sets_that_share_their_first_exemplar_apart():
    first, second = [1] * 30, [2] * 30  # exemplars
    set_a = [[*first, *second, 3, q] for q in (10, 11, 12)]  # prefix 61 tokens
    set_b = [[*first, 4, 4, 4, *second, q] for q in (13, 14)]  # shares 30 with set_a
    # plain: one cluster whose members recompute everything after the shared first exemplar
    assert [p for p, _ in cluster_by_prefix(set_a + set_b)] == [30]
    clusters = cluster_by_prefix(set_a + set_b, frugal=True)
    assert sorted((p, sorted(m)) for p, m in clusters) == [(61, [0, 1, 2]), (63, [3, 4])]
    # a single prompt still joins a cluster that shares most of it (its own last tokens go)
    assert cluster_by_prefix(set_a[:2], frugal=True) == [(61, [0, 1])]


def test_batch_chunks_bound_sequences_and_cached_tokens():
    members, widths = [0, 1, 2, 3, 4], [100, 100, 300, 100, 900]
    # Sequences only: 4 samples each, at most 8 sequences a batch.
    assert batch_chunks(members, widths, 4, 8, 10**9) == [[0, 1], [2, 3], [4]]
    # Tokens: a batch holds samples x its widest member; 3 x 4 x 300 > 2000 splits 1 from 2.
    assert batch_chunks(members, widths, 4, 256, 2000) == [[0, 1], [2], [3], [4]]
    # A member over the budget alone still gets its own batch; order is kept.
    assert batch_chunks([7, 8], [5000, 10], 1, 256, 1000) == [[7], [8]]
    assert batch_chunks([], [], 16, 256, 1000) == []


@pytest.mark.model
def test_a_small_cache_budget_splits_batches_without_changing_a_sample(model_path, p36_20,
                                                                       p36_dev):
    from slick_curator.engines import create_engine

    pool = ExemplarPool(p36_dev.examples, n_prompts=2, k_shot=4, seed=0)
    prompts = [p for e in p36_20.examples[:3] for p in build_prompts(e, pool)[0]]
    sampled = SamplingParams(temperature=0.5, top_k=40, n=4, max_new_tokens=10)
    greedy = SamplingParams(temperature=0.0, max_new_tokens=10)
    requests = [GenerationRequest(p, s, seed=i) for i, p in enumerate(prompts)
                for s in (sampled, greedy)]
    outputs, calls = [], []
    for budget in (65_536, 600):  # 600 tokens: one sampled prompt (4 sequences) a batch
        engine = create_engine("transformers", model=model_path, seed=0, max_cache_tokens=budget)
        try:
            outputs.append([r.texts for r in engine.generate(requests)])
            calls.append(engine.stats.forward_calls)
        finally:
            engine.close()
    assert outputs[0] == outputs[1]
    assert calls[1] > calls[0]  # the budget did split the batches


@pytest.mark.model
def test_greedy_matches_generate_prompt_by_prompt(hf_engine, p36_20, p36_dev):
    pool = ExemplarPool(p36_dev.examples, n_prompts=3, k_shot=4, seed=0)
    prompts = [p for e in p36_20.examples[:8] for p in build_prompts(e, pool)[0]]
    greedy = SamplingParams(temperature=0.0, max_new_tokens=12)
    ours = [r.texts[0] for r in hf_engine.generate([GenerationRequest(p, greedy) for p in prompts])]
    tok, model = hf_engine.tokenizer, hf_engine.model
    reference = []
    for prompt in prompts:
        ids = tok(prompt, return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=12, do_sample=False,
                             pad_token_id=tok.pad_token_id)
        text = tok.decode(out[0, ids.input_ids.shape[1]:], skip_special_tokens=True)
        reference.append(text.split("\n")[0])
    assert ours == reference


@pytest.mark.model
def test_sampling_respects_n_stop_and_pruning(hf_engine, p36_20, p36_dev):
    pool = ExemplarPool(p36_dev.examples, n_prompts=1, k_shot=4, seed=0)
    examples = p36_20.examples[:4]
    params = SamplingParams(temperature=0.5, top_k=40, n=16, max_new_tokens=16)
    requests = [GenerationRequest(build_prompts(e, pool)[0][0], params,
                                  hopeless=Matcher(e.answers).hopeless) for e in examples]
    before = hf_engine.stats.decode_tokens
    results = hf_engine.generate(requests)
    for example, result in zip(examples, results, strict=True):
        assert len(result.texts) == 16 and len(result.pruned) == 16
        assert all("\n" not in t for t in result.texts)
        matcher = Matcher(example.answers)
        for text, pruned in zip(result.texts, result.pruned, strict=True):
            if pruned:  # pruning only ever removes samples that cannot be correct
                assert not matcher(text)
    # Pruning must actually save decode work on a model that mostly does not know the answer.
    assert any(any(r.pruned) for r in results)
    assert hf_engine.stats.decode_tokens - before < 4 * 16 * 16


def test_sample_text_is_decoded_without_clean_up_so_prefixes_stay_prefixes(model_path):
    """With clean-up on, " McDonald '" is not a prefix of the final " McDonald's", so
    pruning would judge a text the answer never has. The decoder turns clean-up off."""
    import torch
    from slick_curator.engines.hf_decoding import PrefixDecoder, Sequence_
    from slick_curator.probing.matching import Matcher
    from transformers import AutoTokenizer

    # transformers 4.x honours clean-up for BPE tokenizers; 5.x only when forced.
    tokenizer = AutoTokenizer.from_pretrained(
        model_path, clean_up_tokenization_spaces=True,
        clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output=True)
    pieces = [tokenizer.convert_tokens_to_ids(t) for t in tokenizer.tokenize(" McDonald 's")]
    assert tokenizer.decode(pieces) == " McDonald's"  # what clean-up does to the whole text
    decoder = PrefixDecoder(torch.nn.Linear(1, 1), tokenizer, eos_ids=set())
    seq = Sequence_(request=0)
    texts = []
    for token in pieces:
        decoder._advance(seq, token, ("\n",), None)
        texts.append(seq.text)
    assert texts[-1] == " McDonald 's"
    assert all(texts[-1].startswith(t) for t in texts)  # every step's text is a prefix
    matcher = Matcher(["McDonald 's"])
    assert matcher(texts[-1]) and not any(matcher.hopeless(t) for t in texts)


# After a complete sentence the model ends the answer; a fact probe at the next sentence asks
# what it says when the answer goes on (`continues`).
FINISHED = ("Q: What is the capital of Kenya?\nA: The capital of Kenya is Nairobi.\n"
            "Q: What is the capital of France?\nA: The capital of France is Paris.")


@pytest.mark.model
def test_a_continuing_request_cannot_end_at_its_first_token(hf_engine):
    greedy = SamplingParams(temperature=0.0, max_new_tokens=8)
    sampled = SamplingParams(temperature=0.5, top_k=40, n=16, max_new_tokens=8)
    plain, going = hf_engine.generate([GenerationRequest(FINISHED, greedy),
                                       GenerationRequest(FINISHED, greedy, continues=True)])
    assert plain.texts == [""]  # the model stops after the sentence: the case at hand
    assert going.texts[0].strip() and "\n" not in going.texts[0]
    ending = set(hf_engine.decoder.ending_tokens(("\n",)))
    first = hf_engine.tokenizer(going.texts[0], add_special_tokens=False).input_ids[0]
    assert first not in ending
    # Sampled: no continuing sample is empty; a request without the flag in the same batch
    # comes out as it does alone.
    mixed = hf_engine.generate([GenerationRequest(FINISHED, sampled, seed=7, continues=True),
                                GenerationRequest(FINISHED, sampled, seed=8)])
    alone = hf_engine.generate([GenerationRequest(FINISHED, sampled, seed=8)])
    assert all(t.strip() for t in mixed[0].texts)
    assert mixed[1].texts == alone[0].texts
    assert "" in alone[0].texts
