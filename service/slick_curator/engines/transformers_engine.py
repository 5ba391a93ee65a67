"""The transformers engine: the embedded default, on CPU (or a GPU when one is present).

Decoding runs through `hf_decoding.PrefixDecoder`, which shares few-shot prefixes between
prompts, branches the KV cache where prompts share more (the fact probes of one answer),
prefills each prompt once for all its samples, and drops finished sequences. Fast mode runs
through `hf_scoring.ContinuationScorer`. torch and transformers are imported when an engine is
created, so the registry can read the class (`Engine.can_score`) in a process without them.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from slick_curator.engines.base import (
    ContinuationScore,
    Engine,
    GenerationRequest,
    GenerationResult,
    MatchProbability,
    MatchRequest,
    SamplingParams,
    ScoreRequest,
    SpanScoreRequest,
    local_info,
)
from slick_curator.engines.stream_keys import stream_key

if TYPE_CHECKING:
    from slick_curator.engines.hf_scoring import SpanItem


class TransformersEngine(Engine):
    """Hugging Face transformers with a token-saving decoding loop.

    Args:
        model: a local model folder or hub id (see `slick_curator.weights.resolve_model`).
        device: "cpu", "cuda", … ; default: cuda when available, else cpu.
        dtype: torch dtype name; default float32 on CPU, bfloat16 on GPU.
        seed: base seed of requests that bring no stream key of their own (`request.seed`).
        max_sequences: most sequences decoded together (bounds KV-cache memory).
        max_cache_tokens: most tokens the KV caches of one decoding batch hold (bounds it for
            long prompts: fact probes, chat exemplars); default `hf_decoding.MAX_CACHE_TOKENS`.
    """

    name = "transformers"
    replayable = True

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str | None = None,
        seed: int = 0,
        max_sequences: int = 256,
        max_cache_tokens: int | None = None,
        **_: object,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from slick_curator.engines.hf_decoding import MAX_CACHE_TOKENS, PrefixDecoder
        from slick_curator.engines.hf_exact import TreeExpander
        from slick_curator.engines.hf_scoring import ContinuationScorer
        from slick_curator.engines.hf_tree import TreeDecoder
        from slick_curator.engines.hf_tree import supports as supports_tree

        self.model_name = model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = dtype or ("float32" if self.device == "cpu" else "bfloat16")
        self.seed = seed
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, self.dtype))
        self.model.to(self.device).eval()
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.decoder = PrefixDecoder(self.model, self.tokenizer, eos_ids, max_sequences,
                                     max_cache_tokens=max_cache_tokens or MAX_CACHE_TOKENS)
        self.scorer = ContinuationScorer(self.decoder)
        self.expander = TreeExpander(self.decoder, max_rows=max_sequences)
        # Greedy answers and exact mode of few-shot QA prompts and fact probes.
        self.tree = (TreeDecoder(self.model, self.tokenizer, eos_ids,
                                 self.decoder.ending_tokens, stats=self.decoder.stats)
                     if supports_tree(self.model) else None)

    @property
    def stats(self):
        """Tokens computed so far (prefill, decode) and forward calls."""
        return self.decoder.stats

    def info(self) -> dict[str, str]:
        import torch

        return local_info(self.name, self.model_name, self.device, self.dtype,
                          torch=torch.__version__)

    def render_chat(self, messages: Sequence[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(requests)
        by_params: dict[SamplingParams, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            by_params[request.params].append(i)
        for params, indices in by_params.items():
            if params.greedy and self.tree is not None:
                found = self._tree_run([requests[i] for i in indices], params)
                for i, result in zip(indices, found, strict=True):
                    results[i] = self._greedy_result(result)
                continue
            tokens = [self._tokens(requests[i].prompt, requests[i].add_special_tokens)
                      for i in indices]
            keys = [self._stream(requests[i]) for i in indices]
            decoded = self.decoder.decode(
                tokens,
                n=params.n,
                greedy=params.greedy,
                temperature=params.temperature,
                top_k=params.top_k,
                max_new_tokens=params.max_new_tokens,
                stops=params.stop,
                hopeless=[requests[i].hopeless for i in indices],
                stream_keys=keys,
                settled=[requests[i].settled for i in indices],
                continues=[requests[i].continues for i in indices],
            )
            for i, prompt_tokens, sequences in zip(indices, tokens, decoded, strict=True):
                results[i] = GenerationResult(
                    texts=[s.text for s in sequences],
                    pruned=[s.pruned for s in sequences],
                    prompt_tokens=len(prompt_tokens),
                    generated_tokens=sum(len(s.tokens) for s in sequences),
                )
        return results  # type: ignore[return-value]

    def _tree_run(self, requests: Sequence[GenerationRequest], greedy: SamplingParams,
                  matches: Sequence[MatchRequest] | None = None, bound: float = 0.0):
        from slick_curator.engines.hf_exact import TreeJob

        jobs = [TreeJob(self._tokens(r.prompt, r.add_special_tokens),
                        matches[k].judge if matches else _never, r.hopeless, r.settled,
                        r.continues)
                for k, r in enumerate(requests)]
        sampling = matches[0].request.params if matches else None
        return self.tree.run(
            jobs, max_new_tokens=greedy.max_new_tokens, stops=greedy.stop,
            expand=matches is not None,
            temperature=sampling.temperature if sampling else 1.0,
            top_k=sampling.top_k if sampling else 0, bound=bound,
            # generate prunes a greedy answer where its request says; exact mode never does
            greedy_hopeless=None if matches else [r.hopeless for r in requests])

    @staticmethod
    def _greedy_result(found) -> GenerationResult:
        return GenerationResult(texts=[found.greedy_text], pruned=[found.greedy_pruned],
                                prompt_tokens=found.prompt_tokens,
                                generated_tokens=len(found.greedy_tokens))

    def _tokens(self, text: str, add_special_tokens: bool) -> list[int]:
        return self.tokenizer(text, add_special_tokens=add_special_tokens).input_ids

    def _stream(self, request: GenerationRequest) -> int:
        return request.seed if request.seed is not None else stream_key(self.seed, request.prompt)

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[ContinuationScore]]:
        items, owners = [], []
        for r, request in enumerate(requests):
            special = request.add_special_tokens
            prompt = self._tokens(request.prompt, special)
            for continuation in request.continuations:
                full = self._tokens(request.prompt + continuation, special)
                # Score the tokens the model would emit; if tokenising the joined text merges
                # across the boundary, fall back to the continuation tokenised on its own.
                if full[: len(prompt)] == prompt and len(full) > len(prompt):
                    tokens = full[len(prompt) :]
                else:
                    tokens = self.tokenizer(continuation, add_special_tokens=False).input_ids
                items.append((prompt, tokens))
                owners.append(r)
        out: list[list[ContinuationScore]] = [[] for _ in requests]
        by_settings: dict[tuple, list[int]] = defaultdict(list)
        for k, owner in enumerate(owners):
            request = requests[owner]
            by_settings[(request.temperature, request.top_k, request.stop, request.ends)].append(k)
        scored: dict[int, ContinuationScore] = {}
        for (temperature, top_k, stop, ends), keys in by_settings.items():
            results = self.scorer.score(
                [items[k] for k in keys], temperature=temperature, top_k=top_k, stop=stop,
                ends=ends,
            )
            for k, (greedy, probability) in zip(keys, results, strict=True):
                scored[k] = ContinuationScore(greedy, probability)
        for k, owner in enumerate(owners):
            out[owner].append(scored[k])
        return out

    def match_probabilities(self, requests: Sequence[MatchRequest], *, bound: float
                            ) -> list[MatchProbability]:
        """Each request's tree of continuations expanded: by `hf_tree.TreeDecoder` in one pass
        with the greedy answer where the model has one and the request asks for its greedy
        answer with the same limits, else by `hf_exact.TreeExpander` (the greedy answers,
        where asked, through `generate`)."""
        from slick_curator.engines.hf_exact import TreeJob

        out: list[MatchProbability | None] = [None] * len(requests)
        by_params: dict[tuple, list[int]] = defaultdict(list)
        for i, m in enumerate(requests):
            by_params[(m.request.params, m.greedy)].append(i)
        for (params, greedy), indices in by_params.items():
            if (self.tree is not None and greedy is not None
                    and (greedy.max_new_tokens, greedy.stop)
                    == (params.max_new_tokens, params.stop)):
                found = self._tree_run([requests[i].request for i in indices], greedy,
                                       [requests[i] for i in indices], bound)
                for i, result in zip(indices, found, strict=True):
                    out[i] = MatchProbability(result.probability, result.unexplored,
                                              self._greedy_result(result))
                continue
            jobs = []
            for i in indices:
                r = requests[i].request
                jobs.append(TreeJob(self._tokens(r.prompt, r.add_special_tokens),
                                    requests[i].judge, r.hopeless, r.settled, r.continues))
            found = self.expander.probabilities(
                jobs, temperature=params.temperature, top_k=params.top_k,
                max_new_tokens=params.max_new_tokens, stops=params.stop, bound=bound)
            greedy_results = self.generate([
                dataclasses.replace(requests[i].request, params=greedy, hopeless=None)
                for i in indices]) if greedy is not None else [None] * len(indices)
            for i, (probability, unexplored), decoded in zip(indices, found, greedy_results,
                                                             strict=True):
                out[i] = MatchProbability(probability, unexplored, decoded)
        return out  # type: ignore[return-value]

    def score_spans(self, requests: Sequence[SpanScoreRequest]) -> list[list[ContinuationScore]]:
        """One teacher-forced pass per request scores all its spans (`SpanScoreRequest`)."""
        if not self.tokenizer.is_fast:  # no offset mapping: score span by span
            return super().score_spans(requests)
        items = [self._span_item(r) for r in requests]
        out: list[list[ContinuationScore] | None] = [None] * len(requests)
        by_settings: dict[tuple, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            by_settings[(request.temperature, request.top_k)].append(i)
        for (temperature, top_k), indices in by_settings.items():
            results = self.scorer.score_spans([items[i] for i in indices],
                                              temperature=temperature, top_k=top_k)
            for i, scores in zip(indices, results, strict=True):
                out[i] = [ContinuationScore(greedy, p) for greedy, p in scores]
        return out  # type: ignore[return-value]

    def _span_item(self, request: SpanScoreRequest) -> SpanItem:
        from slick_curator.engines.hf_scoring import SpanItem

        encoded = self.tokenizer(request.prompt + request.text, return_offsets_mapping=True,
                                 add_special_tokens=request.add_special_tokens)
        base = len(request.prompt)
        return SpanItem(encoded.input_ids, [
            token_span(encoded.offset_mapping, base + start, base + end)
            for start, end in request.spans
        ])

    def close(self) -> None:
        import torch

        self.decoder = None  # type: ignore[assignment]
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _never(_: str) -> bool:
    return False


def token_span(offsets: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The tokens [a, b) whose characters overlap [start, end): a token straddling either edge
    belongs to the span (" Nairobi" starts one character before the fact "Nairobi")."""
    inside = [i for i, (s, e) in enumerate(offsets) if s < end and e > start]
    if not inside:
        raise ValueError(f"no token covers characters [{start}, {end})")
    return inside[0], inside[-1] + 1
