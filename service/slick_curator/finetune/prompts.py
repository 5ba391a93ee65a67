"""SFT examples and evaluation prompts in the probe's own format.

`plain` (the probe's default): the prompt is ``Q: {question}\\nA:`` and the completion is
``" {answer}\\n"`` -- exactly what a zero-shot plain probe prompt asks for, ending with the
newline that stops generation. `chat`: the prompt is the chat template with the question as
the user turn and the assistant turn opened; the completion is the rest of the template with
the answer as the assistant turn (for SmolLM2: ``Paris<|im_end|>\\n``), so the model learns to
end its turn.

Evaluation prompts (`eval_prompt`): `zero-shot` is the training prompt itself, the natural
way to ask a model fine-tuned on this format; `few-shot` puts `k_shot` exemplars from the
question's group in the training data (original answers, fixed per group by the seed) before
it, as the probe asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slick_curator.probing.prompts import chat_messages, plain_prompt
from slick_curator.probing.records import Example

__all__ = ["Formatter"]


class Formatter:
    """Renders prompts and completions for one tokenizer and prompt format."""

    def __init__(self, tokenizer: Any, prompt_format: str) -> None:
        if prompt_format not in ("plain", "chat"):
            raise ValueError(f"unknown prompt format {prompt_format!r}")
        self.tokenizer = tokenizer
        self.prompt_format = prompt_format

    @property
    def add_special_tokens(self) -> bool:
        """False for chat prompts: the template wrote their special tokens (BOS) already."""
        return self.prompt_format != "chat"

    def prompt(self, question: str, exemplars: Sequence[Example] = ()) -> str:
        """The prompt for `question` (after `exemplars` for few-shot), answer not included."""
        if self.prompt_format == "chat":
            return self._chat(chat_messages(exemplars, question), generation=True)
        return plain_prompt(exemplars, question)

    def completion(self, question: str, answer: str) -> str:
        """What follows the zero-shot prompt when the model answers `answer` and stops."""
        if self.prompt_format == "plain":
            return f" {answer}\n"
        prompt = self.prompt(question)
        messages = [*chat_messages((), question), {"role": "assistant", "content": answer}]
        full = self._chat(messages, generation=False)
        if full.startswith(prompt):
            return full[len(prompt):]
        # A template that renders the open turn differently: answer, then end of turn.
        return f"{answer}{self.tokenizer.eos_token or ''}"

    def _chat(self, messages: list[dict[str, str]], *, generation: bool) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation)

    def encode(self, question: str, answer: str, max_length: int) -> tuple[list[int], list[int]]:
        """(input ids, labels) of one SFT example: the prompt's labels are -100 (no loss).

        The prompt is tokenised alone, as the engines tokenise prompts at generation time, and
        the completion after it; a too long example loses prompt tokens from the left.
        """
        prompt_ids = self.tokenizer(self.prompt(question),
                                    add_special_tokens=self.add_special_tokens).input_ids
        answer_ids = self.tokenizer(self.completion(question, answer),
                                    add_special_tokens=False).input_ids
        answer_ids = answer_ids[:max_length - 1]
        prompt_ids = prompt_ids[max(0, len(prompt_ids) + len(answer_ids) - max_length):]
        return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids
