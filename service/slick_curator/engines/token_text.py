"""Texts of token sequences grown one token at a time, without re-decoding the sequence.

A byte-level BPE tokenizer (GPT-2, Llama 3, SmolLM2) decodes a sequence by joining its
tokens' bytes and reading them as UTF-8, with U+FFFD for bytes that are not (yet) a whole
character. So the text of `tokens + [t]` is `(bytes(tokens) + bytes(t)).decode()`, and a tree
of continuations can carry each node's bytes instead of decoding every path from its start.
`TokenBytes.for_tokenizer` returns None where the tokenizer decodes otherwise, or where a
self-check against `tokenizer.decode` fails; callers then decode whole sequences.
"""

from __future__ import annotations

import random
from typing import Any


class TokenBytes:
    """Each token id's bytes, as `tokenizer.decode(..., skip_special_tokens=True,
    clean_up_tokenization_spaces=False)` writes them."""

    def __init__(self, table: list[bytes]) -> None:
        self.table = table

    def __getitem__(self, token: int) -> bytes:
        return self.table[token]

    @staticmethod
    def text(data: bytes) -> str:
        return data.decode("utf-8", errors="replace")

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> TokenBytes | None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        decoder = getattr(backend, "decoder", None)
        if decoder is None or type(decoder).__name__ != "ByteLevel":
            return None
        unicode_to_byte = {ch: b for b, ch in _bytes_to_unicode().items()}
        added = tokenizer.added_tokens_decoder
        special = set(tokenizer.all_special_ids) | {i for i, t in added.items() if t.special}
        table: list[bytes] = []
        for token_id, piece in enumerate(tokenizer.convert_ids_to_tokens(range(len(tokenizer)))):
            if token_id in special:
                table.append(b"")
            elif token_id in added:
                table.append(added[token_id].content.encode())
            elif piece is None or any(ch not in unicode_to_byte for ch in piece):
                return None
            else:
                table.append(bytes(unicode_to_byte[ch] for ch in piece))
        found = cls(table)
        return found if found._agrees(tokenizer) else None

    def _agrees(self, tokenizer: Any, trials: int = 200) -> bool:
        rng = random.Random(0)
        for _ in range(trials):
            tokens = [rng.randrange(len(self.table)) for _ in range(rng.randint(1, 6))]
            expected = tokenizer.decode(tokens, skip_special_tokens=True,
                                        clean_up_tokenization_spaces=False)
            if self.text(b"".join(self.table[t] for t in tokens)) != expected:
                return False
        return True


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from bytes to the printable characters its vocabulary is written in."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars, strict=True)}
