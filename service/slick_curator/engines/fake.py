"""A scripted engine for fast tests of the layers above the seam. Never proof a feature works.

Answers come from a dict question -> answer: greedy returns it; samples return it for the
first `known_samples` of each request and "nope" otherwise. Questions not in the script get
"I don't know". The question is read off the prompt's last `Q:` line (plain format).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

from slick_curator.engines import base


class FakeEngine(base.Engine):
    """Deterministic answers per question, with optional per-call delay to test progress."""

    name = "fake"
    local_weights = False  # `model` is a name, not weights to resolve

    def __init__(
        self,
        model: str = "fake",
        *,
        greedy: Mapping[str, str] | None = None,
        samples: Mapping[str, str] | None = None,
        known_samples: int = 1,
        sample_probability: float = 0.01,
        delay_s: float = 0.0,
        **_: object,
    ) -> None:
        self.model = model
        self.greedy = dict(greedy or {})
        self.samples = dict(samples or {})
        self.known_samples = known_samples
        self.sample_probability = sample_probability
        self.delay_s = delay_s
        self.calls: list[int] = []
        self._lock = threading.Lock()

    @staticmethod
    def question_of(prompt: str) -> str:
        for line in reversed(prompt.splitlines()):
            if line.startswith("Q: "):
                return line[3:]
            if line.startswith("<user>"):
                return line[len("<user>") :]
        return prompt

    def generate(self, requests: Sequence[base.GenerationRequest]) -> list[base.GenerationResult]:
        with self._lock:
            self.calls.append(len(requests))
        if self.delay_s:
            time.sleep(self.delay_s)
        out = []
        for request in requests:
            question = self.question_of(request.prompt)
            if request.params.greedy:
                texts = [" " + self.greedy.get(question, "I don't know")]
            else:
                answer = self.samples.get(question, self.greedy.get(question))
                texts = [
                    " " + (answer if answer is not None and i < self.known_samples else "nope")
                    for i in range(request.params.n)
                ]
            out.append(
                base.GenerationResult(
                    texts=texts,
                    prompt_tokens=len(request.prompt.split()),
                    generated_tokens=sum(len(t.split()) for t in texts),
                )
            )
        return out

    def score(self, requests: Sequence[base.ScoreRequest]) -> list[list[base.ContinuationScore]]:
        """Greedy-correct for the scripted greedy answer; `sample_probability` for sampled ones."""
        out = []
        for request in requests:
            question = self.question_of(request.prompt)
            greedy = self.greedy.get(question)
            sampled = self.samples.get(question)
            out.append([
                base.ContinuationScore(
                    greedy=greedy is not None and c.strip() == greedy,
                    probability=(1.0 if greedy is not None and c.strip() == greedy
                                 else self.sample_probability if c.strip() == sampled else 0.0),
                )
                for c in request.continuations
            ])
        return out

    def match_probabilities(self, requests: Sequence[base.MatchRequest], *, bound: float
                            ) -> list[base.MatchProbability]:
        """`sample_probability` where the scripted sample answer is judged correct, else 0."""
        out = []
        for m in requests:
            question = self.question_of(m.request.prompt)
            answer = self.samples.get(question, self.greedy.get(question))
            hit = answer is not None and m.judge(answer)
            out.append(base.MatchProbability(self.sample_probability if hit else 0.0, 0.0))
        return out

    def render_chat(self, messages: Sequence[dict[str, str]]) -> str:
        return "".join(f"<{m['role']}>{m['content']}\n" for m in messages) + "<assistant>"

    def info(self) -> dict[str, str]:
        return {"engine": self.name, "model": self.model}
