"""Chat turns in the two shapes users send them, read as one and written back as they came.

- **openai**: `messages` = [{"role": "system"|"user"|"assistant", "content": …}, …]
- **sharegpt**: `conversations` = [{"from": "system"|"human"|"gpt", "value": …}, …]
  ("user"/"assistant" are accepted as `from` values too, as some exports write them)

`canonical` gives the turns as OpenAI messages; `final_content` and `with_final_content` read and
replace the final turn's text in the row's own shape, every other key and turn untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["STYLES", "BadTurns", "TurnStyle", "canonical", "final_content",
           "with_final_content"]


@dataclass(frozen=True)
class TurnStyle:
    role_key: str
    content_key: str
    roles: dict[str, str]  # the shape's role names -> system / user / assistant


STYLES = {
    "openai": TurnStyle("role", "content",
                        {"system": "system", "user": "user", "assistant": "assistant"}),
    "sharegpt": TurnStyle("from", "value",
                          {"system": "system", "human": "user", "gpt": "assistant",
                           "user": "user", "assistant": "assistant"}),
}


class BadTurns(ValueError):
    """A list of turns that does not have the shape it should."""


def canonical(turns: list[Any], style: str) -> list[dict[str, str]]:
    """The turns as {"role", "content"} dicts; BadTurns names the first turn at fault. Roles
    the shape does not name (e.g. "tool") are kept as they are."""
    s = STYLES[style]
    out = []
    for i, turn in enumerate(turns):
        if not (isinstance(turn, dict) and isinstance(turn.get(s.role_key), str)
                and isinstance(turn.get(s.content_key), str)):
            raise BadTurns(f"message {i}: expected an object with string {s.role_key!r} and "
                           f"{s.content_key!r}")
        role = turn[s.role_key]
        out.append({"role": s.roles.get(role, role), "content": turn[s.content_key]})
    return out


def final_content(turns: Any, style: str) -> str | None:
    """The final turn's text (stripped); None when there is no such turn."""
    s = STYLES[style]
    if not isinstance(turns, list) or not turns or not isinstance(turns[-1], dict):
        return None
    content = turns[-1].get(s.content_key)
    return content.strip() if isinstance(content, str) else None


def with_final_content(turns: list[Any], style: str, text: str) -> list[Any]:
    """A copy of `turns` whose final turn says `text` instead."""
    copied = [dict(t) if isinstance(t, dict) else t for t in turns]
    copied[-1][STYLES[style].content_key] = text
    return copied
