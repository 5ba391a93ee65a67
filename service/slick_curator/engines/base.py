"""The engine seam: a batch of generation requests in, one result per request out.

Every engine (transformers, vLLM, the scripted fake) implements `Engine.generate`. It is
synchronous and may take minutes; callers run it off any event loop. Engines translate the
shared `SamplingParams` into their own library's terms, so nothing above this module knows
which library produced a text.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class SamplingParams:
    """How to decode one prompt.

    temperature 0 means greedy (top_k is then ignored); top_k 0 disables top-k filtering.
    Generation stops at the first occurrence of any `stop` string (which is not returned) or
    after `max_new_tokens` tokens.
    """

    temperature: float = 0.0
    top_k: int = 0
    n: int = 1
    max_new_tokens: int = 24
    stop: tuple[str, ...] = ("\n",)

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 10.0:
            raise ValueError(f"temperature must be in [0, 10], got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature == 0.0 and self.n != 1:
            raise ValueError("greedy decoding (temperature 0) takes n = 1")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt and how to decode it.

    `hopeless`, when given, is a hint an engine may use to save work: it receives a sample's
    text so far and returns True once that text can never become a correct answer. An engine
    may then stop that sequence; the truncated text is returned with `pruned` set. Engines
    that cannot stop single sequences ignore it, which never changes which samples are correct.

    `seed` is the request's stream key (`engines.streams.stream_key`): sample j draws from the
    stream (seed, j) alone, so it comes out the same whatever else is batched with it. None:
    the engine derives one from its own seed and the prompt. Engines whose backend cannot
    honour per-request seeds say so in `Engine.replayable`.

    `add_special_tokens` False: the prompt already holds the model's special tokens (a chat
    template rendered it, BOS included), so tokenizing must not add another BOS.

    `settled`, like `hopeless`, is a hint: it returns True once nothing generated after the
    text so far can change whether the text is correct (a fact probe has read the fact and the
    word after it). An engine may stop that sequence there; the text is returned, not pruned.

    `continues` True: the text goes on after the prompt (a fact probe at a sentence inside an
    answer: the answer before it is complete, yet it has more to say). The first token may then
    not end the answer -- EOS and tokens that write a stop string are masked at that step -- so
    the probe reads what the model says next rather than whether it would stop there.
    """

    prompt: str
    params: SamplingParams
    hopeless: Callable[[str], bool] | None = None
    seed: int | None = None
    add_special_tokens: bool = True
    settled: Callable[[str], bool] | None = None
    continues: bool = False


@dataclass
class GenerationResult:
    """The `params.n` completions of one request, stop strings removed."""

    texts: list[str]
    pruned: list[bool] = field(default_factory=list)
    prompt_tokens: int = 0
    generated_tokens: int = 0

    def __post_init__(self) -> None:
        if not self.pruned:
            self.pruned = [False] * len(self.texts)


@dataclass(frozen=True)
class ScoreRequest:
    """Teacher-force `continuations` after `prompt` (fast mode) under sampling settings.

    Each continuation is scored as if generated: its tokens, then an end of answer (a token
    starting with a stop string, or EOS). `ends` False scores the tokens alone: a fact inside
    an answer is followed by the rest of the answer, not by its end.
    """

    prompt: str
    continuations: tuple[str, ...]
    temperature: float
    top_k: int = 0
    stop: str = "\n"
    add_special_tokens: bool = True
    ends: bool = True


@dataclass(frozen=True)
class SpanScoreRequest:
    """Teacher-force `text` after `prompt` once and score `spans` of it (fast mode on facts).

    `spans` are (start, end) character offsets into `text`. A span is scored given all of
    `text` before it, as the answer going on: its tokens alone, with no end of answer after
    them. A token that straddles a span's start (" Nairobi" with its space) belongs to the
    span; so does one that straddles its end (then the span is scored as that whole token).
    """

    prompt: str
    text: str
    spans: tuple[tuple[int, int], ...]
    temperature: float
    top_k: int = 0
    add_special_tokens: bool = True

    def __post_init__(self) -> None:
        for start, end in self.spans:
            if not 0 <= start < end <= len(self.text):
                raise ValueError(f"span ({start}, {end}) is not inside a text of {len(self.text)}")

    def as_score_requests(self) -> list[ScoreRequest]:
        """One `ScoreRequest` per span: the text up to the span joins the prompt (its trailing
        whitespace left to the span, as a model writes the space before a word)."""
        out = []
        for start, end in self.spans:
            head = self.text[:start].rstrip()
            out.append(ScoreRequest(
                self.prompt + head, (self.text[len(head) : end],),
                temperature=self.temperature, top_k=self.top_k,
                add_special_tokens=self.add_special_tokens, ends=False,
            ))
        return out


@dataclass(frozen=True)
class ContinuationScore:
    """`greedy`: greedy decoding would produce exactly this continuation (and then stop, where
    the request scores an end of answer). `probability`: the chance one sample (temperature,
    top-k) does the same."""

    greedy: bool
    probability: float


@dataclass(frozen=True)
class MatchRequest:
    """Exact mode: the chance that one sample of `request` (its sampling params and hints)
    ends as a text `judge` accepts -- computed, not drawn. `judge` gets the text stripped, as
    a sampled answer is judged."""

    request: GenerationRequest
    judge: Callable[[str], bool]
    # Where set, the engine may also decode the prompt greedily with these params in the same
    # pass and return it (`MatchProbability.greedy`), as `generate` would have.
    greedy: SamplingParams | None = None


@dataclass(frozen=True)
class MatchProbability:
    """`probability`: the mass of the correct continuations found, a lower bound;
    `unexplored`: the mass left unexpanded, so the exact value is at most their sum;
    `greedy`: the greedy decoding asked for by `MatchRequest.greedy`, where the engine did it
    (None: the caller decodes it with `generate`)."""

    probability: float
    unexplored: float
    greedy: GenerationResult | None = None


ProgressCallback = Callable[[int], None]


class Engine(abc.ABC):
    """A loaded model that turns prompts into completions.

    Subclasses implement `generate`; `render_chat` only where the model has a chat template.
    `info()` says what ran, for result metadata.
    """

    name: str = "engine"
    # Whether sampled texts are a pure function of (prompt, params, request seed): true where
    # every sample draws from its own stream, false where the backend ignores request seeds.
    replayable: bool = False
    # Whether `model` is weights to resolve to a local folder (`weights.resolve_model`); false
    # where it is a name that a server or a script knows (openai, fake).
    local_weights: ClassVar[bool] = True
    # Whether the class implements `score` (fast mode) and `match_probabilities` (exact
    # mode); set for each subclass from its code.
    can_score: ClassVar[bool] = False
    can_enumerate: ClassVar[bool] = False
    # The sampling seed of requests that bring no stream key of their own; set for each job.
    seed: int = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.can_score = cls.score is not Engine.score
        cls.can_enumerate = cls.match_probabilities is not Engine.match_probabilities

    @abc.abstractmethod
    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Decode every request; returns one result per request, in request order."""

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[ContinuationScore]]:
        """Score every continuation of every request (one list per request, in order)."""
        raise NotImplementedError(f"engine {self.name!r} cannot score continuations (fast mode)")

    def score_spans(self, requests: Sequence[SpanScoreRequest]) -> list[list[ContinuationScore]]:
        """Score every span of every request (one list per request, in span order).

        Engines that can teacher-force a text once for all its spans override this; the
        default scores each span on its own through `score` (`as_score_requests`).
        """
        flat = [r for request in requests for r in request.as_score_requests()]
        scores = iter(self.score(flat) if flat else [])
        return [[next(scores)[0] for _ in request.spans] for request in requests]

    def match_probabilities(self, requests: Sequence[MatchRequest], *, bound: float
                            ) -> list[MatchProbability]:
        """Exact mode: each request's chance that one sample is judged correct, with at most
        `bound` of its probability mass left unexpanded (one result per request, in order)."""
        raise NotImplementedError(f"engine {self.name!r} cannot enumerate continuations "
                                  "(exact mode)")

    def render_chat(self, messages: Sequence[dict[str, str]]) -> str:
        """Render chat messages with the model's template, ending with the assistant's turn."""
        raise NotImplementedError(f"engine {self.name!r} has no chat template")

    def info(self) -> dict[str, str]:
        """Model and engine identity recorded in result metadata."""
        return {"engine": self.name}

    def close(self) -> None:
        """Free the model's memory. The engine is unusable afterwards."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def local_info(engine: str, model: str, device: str, dtype: str, **versions: str
               ) -> dict[str, str]:
    """`Engine.info` of an engine holding local weights, with the versions of the libraries
    it runs on."""
    return {"engine": engine, "model": model, "device": device, "dtype": dtype, **versions}
