"""Stream keys: which random stream a sample draws from (see `streams`), without torch.

Kept apart from `streams` so the probing core, curation and fine-tune planning can name a
row's stream without importing torch.
"""

from __future__ import annotations

import hashlib


def stream_key(*parts: object) -> int:
    """A 64-bit stream key from any parts (seed, row identity, prompt index, …), stable across
    processes and Python versions (unlike `hash`)."""
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def sample_words(key: int, sample: int) -> tuple[int, int]:
    """The two 32-bit key words of sample `sample` of the stream `key`."""
    digest = hashlib.blake2b(
        key.to_bytes(8, "little") + sample.to_bytes(4, "little"), digest_size=8
    ).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")
