"""Exact mode on the real SmolLM2-135M: the tree of continuations, expanded with pruning and
shared KV caches, gives the probability a brute-force enumeration gives (every path of the
top-k tree, one full forward pass per node, no pruning), and the frequency samples show."""

from __future__ import annotations

import math

import pytest
import torch
from slick_curator.engines.base import GenerationRequest, MatchRequest, SamplingParams
from slick_curator.probing.matching import Matcher

pytestmark = pytest.mark.model

PROMPT = ("Q: What is the capital of France?\nA: Paris\n"
          "Q: What is the capital of Japan?\nA: Tokyo\n"
          "Q: What is the capital of {country}?\nA:")


def brute_force(engine, prompt: str, judge, *, temperature, top_k, max_new_tokens) -> float:
    """Every path of the top-k tree, each node one forward pass over its whole text."""
    tok, model = engine.tokenizer, engine.model
    eos = engine.decoder.eos_ids
    start = tok(prompt).input_ids

    @torch.inference_mode()
    def walk(tokens: list[int], p: float, depth: int) -> float:
        logits = model(input_ids=torch.tensor([start + tokens])).logits[0, -1]
        values, ids = torch.topk(logits, top_k)
        probs = torch.softmax(values.double() / temperature, dim=-1)
        total = 0.0
        for q, t in zip(probs.tolist(), ids.tolist(), strict=True):
            if t in eos:
                text = tok.decode(tokens, skip_special_tokens=True,
                                  clean_up_tokenization_spaces=False)
                total += p * q * judge(text.strip())
                continue
            text = tok.decode([*tokens, t], skip_special_tokens=True,
                              clean_up_tokenization_spaces=False)
            if "\n" in text:
                total += p * q * judge(text[:text.index("\n")].strip())
            elif depth + 1 == max_new_tokens:
                total += p * q * judge(text.strip())
            else:
                total += walk([*tokens, t], p * q, depth + 1)
        return total

    return walk([], 1.0, 0)


def request(prompt, *, temperature=0.5, top_k=40, max_new_tokens=24, n=1, hopeless=None):
    params = SamplingParams(temperature=temperature, top_k=top_k, n=n,
                            max_new_tokens=max_new_tokens)
    return GenerationRequest(prompt, params, hopeless=hopeless, seed=7)


# With greedy params the engine decodes greedy answers and the tree in one pass
# (`hf_tree.TreeDecoder`); without, `hf_exact.TreeExpander` computes the tree alone.
WITH_GREEDY = pytest.mark.parametrize("greedy", [None, SamplingParams(temperature=0.0,
                                                                      max_new_tokens=4)],
                                      ids=["expander", "tree-decoder"])


@WITH_GREEDY
@pytest.mark.parametrize(("country", "golds"), [("Kenya", ["Nairobi"]),
                                                ("Burkina Faso", ["Ouagadougou"]),
                                                ("Italy", ["Rome", "Roma"])])
def test_the_pruned_tree_gives_what_brute_force_enumeration_gives(hf_engine, country, golds,
                                                                  greedy):
    prompt = PROMPT.format(country=country)
    matcher = Matcher(golds, "exact")
    settings = {"temperature": 0.5, "top_k": 4, "max_new_tokens": 4}
    (exact,) = hf_engine.match_probabilities(
        [MatchRequest(request(prompt, **settings, hopeless=matcher.hopeless), matcher, greedy)],
        bound=0.0)
    assert (exact.greedy is None) == (greedy is None)
    expected = brute_force(hf_engine, prompt, matcher, **settings)
    assert exact.unexplored == 0.0
    assert math.isclose(exact.probability, expected, rel_tol=1e-6, abs_tol=1e-12), (
        exact, expected)


@pytest.mark.parametrize("greedy", [None, SamplingParams(temperature=0.0, max_new_tokens=24)],
                         ids=["expander", "tree-decoder"])
def test_the_probability_is_the_frequency_of_correct_samples(hf_engine, greedy):
    # The protocol's own settings (T 0.5, top-k 40), on a prompt the model half knows.
    prompt = PROMPT.format(country="Kenya")
    matcher = Matcher(["Nairobi"], "exact")
    (exact,) = hf_engine.match_probabilities(
        [MatchRequest(request(prompt, hopeless=matcher.hopeless), matcher, greedy)], bound=1e-4)
    # The tree decoder lets a prompt's bound grow with the mass it has found, up to MAX_BOUND:
    # where p is large, P(WeaklyKnown) hardly depends on the rest.
    assert exact.unexplored <= (1e-4 if greedy is None else 1e-2)
    n = 400
    (result,) = hf_engine.generate([request(prompt, n=n)])
    hits = sum(matcher(t.strip()) for t in result.texts)
    p = exact.probability
    sd = math.sqrt(max(p * (1 - p), 1e-6) / n)
    assert abs(hits / n - p) <= 4 * sd + 1 / n, (hits, n, p)


def test_exact_mode_rows_agree_with_adaptive_where_greedy_answers_decide(hf_engine, p36_20,
                                                                         p36_dev):
    from slick_curator.probing.params import ProbeParams
    from slick_curator.probing.pipeline import ProbeRun

    data = p36_20.__class__(p36_20.table.slice(0, 4), p36_20.examples[:4], [],
                            p36_20.format, p36_20.kind, p36_20.columns)
    out = {}
    for mode in ("exact", "adaptive"):
        run = ProbeRun(data, ProbeParams(mode=mode, n_prompts=2, k_shot=2),
                       exemplars=p36_dev, shard_size=4)
        out[mode] = run.annotate([run.probe_shard(hf_engine, rows)
                                  for _, rows in run.shards()], {}).to_pylist()
    for e, a in zip(out["exact"], out["adaptive"], strict=True):
        assert e["slick_greedy_answers"] == a["slick_greedy_answers"]  # greedy is exact
        probs = e["slick_category_probs"]
        assert sum(probs.values()) == pytest.approx(1.0)
        assert e["slick_p_unexplored"] <= 0.05 and 0.0 <= e["slick_p_sample"] <= 1.0
        assert len(e["slick_p_samples"]) == 2 and e["slick_n_samples"] == 0
        if any(a["slick_greedy_correct"]):  # decided by greedy answers: the same category
            assert e["slick_category"] == a["slick_category"] and max(probs.values()) == 1.0
        if a["slick_category"] == "WeaklyKnown":  # a sample hit: the tree finds that mass
            assert probs["WeaklyKnown"] > 0.0


def assert_the_tree_decoder_computes_what_the_loop_computes(engine, jobs) -> None:
    """The tree decoder's greedy answers are `PrefixDecoder`'s, its probabilities
    `TreeExpander`'s within their bounds, and some prompt has real mass."""
    settings = {"max_new_tokens": 24, "stops": ["\n"]}
    loop = engine.decoder.decode([j.tokens for j in jobs], n=1, greedy=True, temperature=0,
                                 top_k=0, hopeless=[None] * len(jobs),
                                 settled=[j.settled for j in jobs],
                                 continues=[j.continues for j in jobs], **settings)
    expanded = engine.expander.probabilities(jobs, temperature=0.5, top_k=40, bound=1e-4,
                                             **settings)
    tree = engine.tree.run(jobs, expand=True, temperature=0.5, top_k=40, bound=1e-4, **settings)
    assert [t.greedy_text for t in tree] == [s[0].text for s in loop]
    for (p, left), t in zip(expanded, tree, strict=True):
        assert p <= t.probability + t.unexplored + 1e-4 and t.probability <= p + left + 1e-4
    assert any(t.probability > 0.01 for t in tree)


def test_the_tree_decoder_computes_what_the_transformers_loop_computes(hf_engine, p36_20,
                                                                        p36_dev):
    """Real few-shot prompts of many exemplar sets in one batch: the tree decoder's greedy
    answers are `PrefixDecoder`'s, its probabilities `TreeExpander`'s within their bounds."""
    from slick_curator.engines.hf_exact import TreeJob
    from slick_curator.probing.prompts import ExemplarPool, build_prompts

    pool = ExemplarPool(p36_dev.examples, n_prompts=10, k_shot=4, seed=0)
    jobs = []
    for example in p36_20.examples[:6]:
        matcher = Matcher(example.answers)
        jobs += [TreeJob(hf_engine.tokenizer(prompt).input_ids, matcher, matcher.hopeless)
                 for prompt in build_prompts(example, pool)[0]]
    assert_the_tree_decoder_computes_what_the_loop_computes(hf_engine, jobs)


def test_fact_probes_through_the_tree_decoder_match_the_transformers_loop(hf_engine):
    """Chat prompts that end inside the answer (`continues`: the first token may not end it)
    and fact matchers that settle a path before the newline: the tree decoder's greedy
    answers are `PrefixDecoder`'s, its probabilities `TreeExpander`'s within their bounds."""
    from slick_curator.engines.hf_exact import TreeJob
    from slick_curator.probing.fact_matching import FactMatcher

    shots = [("What is the capital of France?", "The capital of France is Paris."),
             ("What is the capital of Japan?", "The capital of Japan is Tokyo.")]
    cases = [("Kenya", "Nairobi", "The capital of Kenya is"),
             ("Italy", "Rome", "The capital of Italy is"),
             ("Peru", "Lima", "The capital of Peru is"),
             ("Canada", "Ottawa", "Sure. The capital of Canada is")]
    jobs = []
    for country, fact, head in cases:
        messages = [m for q, a in shots for m in ({"role": "user", "content": q},
                                                  {"role": "assistant", "content": a})]
        messages.append({"role": "user", "content": f"What is the capital of {country}?"})
        prompt = hf_engine.render_chat(messages) + head
        for rule in ("position", "sentence"):
            matcher = FactMatcher(fact, opening=False, rule=rule)
            jobs.append(TreeJob(hf_engine.tokenizer(prompt, add_special_tokens=False).input_ids,
                                matcher, matcher.hopeless, matcher.settled, continues=True))
    assert_the_tree_decoder_computes_what_the_loop_computes(hf_engine, jobs)


@pytest.fixture(scope="module")
def hf_engine_bf16(model_path):
    from slick_curator.engines import create_engine

    engine = create_engine("transformers", model=model_path, seed=0, dtype="bfloat16")
    yield engine
    engine.close()


def test_in_bf16_the_tree_decoder_computes_what_transformers_computes(hf_engine_bf16):
    """bf16 goes through packed, fused projections (`fused_linear`) and aten's fused
    attention; transformers rounds differently, so agreement is within bf16 rounding."""
    prompt = PROMPT.format(country="Kenya")
    matcher = Matcher(["Nairobi"], "exact")
    settings = {"temperature": 0.5, "top_k": 4, "max_new_tokens": 4}
    greedy = SamplingParams(temperature=0.0, max_new_tokens=4)
    (exact,) = hf_engine_bf16.match_probabilities(
        [MatchRequest(request(prompt, **settings, hopeless=matcher.hopeless), matcher, greedy)],
        bound=0.0)
    expected = brute_force(hf_engine_bf16, prompt, matcher, **settings)
    assert exact.unexplored == 0.0 and 0.01 < expected < 0.99
    assert abs(exact.probability - expected) <= 0.05 * expected, (exact, expected)
    (loop,) = hf_engine_bf16.generate([GenerationRequest(prompt, greedy)])
    assert exact.greedy.texts == loop.texts


def test_paths_computed_ahead_as_drafts_give_what_computing_them_gives(hf_engine, eq_dir,
                                                                       monkeypatch):
    """The last levels of a tree also compute each path's next tokens if it repeats itself;
    a child computed so is not computed again, and the probabilities are those of the tree
    grown without drafts, within their bounds."""
    from slick_curator.engines import tree_expansion
    from slick_curator.engines.hf_exact import TreeJob
    from slick_curator.probing.prompts import ExemplarPool, build_prompts
    from slick_curator.probing.reading import read_dataset

    # "Where is X located?": some samples run into "A-A-A-A" or "A: A: A:"
    rows = read_dataset(eq_dir / "test" / "P131.test.json", limit=8)
    dev = read_dataset(eq_dir / "dev" / "P131.dev.json")
    pool = ExemplarPool(dev.examples, n_prompts=10, k_shot=4, seed=0)
    jobs = []
    for example in rows.examples:
        matcher = Matcher(example.answers)
        jobs += [TreeJob(hf_engine.tokenizer(prompt).input_ids, matcher, matcher.hopeless)
                 for prompt in build_prompts(example, pool)[0]]
    settings = {"max_new_tokens": 24, "stops": ["\n"], "expand": True, "temperature": 0.5,
                "top_k": 40, "bound": 1e-4}
    before = hf_engine.tree.drafted
    drafted = hf_engine.tree.run(jobs, **settings)
    assert hf_engine.tree.drafted > before  # some children were drafts
    monkeypatch.setattr(tree_expansion, "DRAFT_TOKENS", 0)
    computed = hf_engine.tree.run(jobs, **settings)
    assert [d.greedy_text for d in drafted] == [c.greedy_text for c in computed]
    for d, c in zip(drafted, computed, strict=True):
        assert d.probability <= c.probability + c.unexplored + 1e-6
        assert c.probability <= d.probability + d.unexplored + 1e-6


def test_a_tree_through_drafts_gives_the_exact_probability(hf_engine):
    """A prompt whose answer repeats itself: the tree decoder (the whole tree, bound 0)
    computes most of it ahead as drafts and gives the probability `TreeExpander` computes
    node by node."""
    from slick_curator.engines.hf_exact import TreeJob

    prompt = ("Q: Repeat the pattern.\nA: X-Y-X-Y-X-Y-X-Y\n" * 2) + "Q: Repeat the pattern.\nA:"
    matcher = Matcher(["X-Y-X-Y-X-Y-X-Y"])
    jobs = [TreeJob(hf_engine.tokenizer(prompt).input_ids, matcher, matcher.hopeless)]
    settings = {"max_new_tokens": 18, "stops": ["\n"], "temperature": 0.5, "top_k": 3,
                "bound": 0.0}
    before = hf_engine.tree.drafted
    (tree,) = hf_engine.tree.run(jobs, expand=True, **settings)
    ((expected, left),) = hf_engine.expander.probabilities(jobs, **settings)
    assert hf_engine.tree.drafted > before
    assert tree.unexplored == left == 0.0 and expected > 0.05
    assert math.isclose(tree.probability, expected, rel_tol=1e-4)


def test_greedy_answers_through_drafts_are_the_transformers_loops(hf_engine):
    """A greedy answer that repeats itself is decoded a few drafted tokens per pass, and is
    the answer `PrefixDecoder` decodes token by token."""
    from slick_curator.engines.hf_exact import TreeJob

    prompts = [("Q: Repeat the pattern.\nA: X-Y-X-Y-X-Y-X-Y\n" * 2) + "Q: Repeat the pattern.\nA:",
               PROMPT.format(country="Kenya")]
    jobs = [TreeJob(hf_engine.tokenizer(p).input_ids, Matcher(["X"]), None) for p in prompts]
    settings = {"max_new_tokens": 24, "stops": ["\n"]}
    loop = hf_engine.decoder.decode([j.tokens for j in jobs], n=1, greedy=True, temperature=0,
                                    top_k=0, hopeless=[None] * 2, settled=[None] * 2,
                                    continues=[False] * 2, **settings)
    before = hf_engine.tree.drafted
    tree = hf_engine.tree.run(jobs, **settings)
    assert hf_engine.tree.drafted > before
    assert [t.greedy_text for t in tree] == [s[0].text for s in loop]
    assert len(tree[0].greedy_tokens) >= 12 and tree[0].greedy_text.startswith(" X-Y-X-Y")
