"""The items of a JSON list, one at a time, in memory bounded by a chunk and the largest item.

A file of one JSON list has no line boundaries to stream on, and `json.loads` of all of it
holds every row as Python objects at once (a 512 MB upload: gigabytes). Here the text is
decoded a chunk at a time and each item is parsed by the standard decoder
(`JSONDecoder.raw_decode`, so values are exactly what `json.loads` gives): an item cut by the
end of the buffered text is parsed again once more text is in. Whole-file problems raise
DatasetError with the messages a whole-file parse gave (not valid UTF-8, invalid JSON with its
line and column, nested too deeply, not a list).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any

from slick_curator.probing.byte_source import ByteSource
from slick_curator.probing.read_errors import DatasetError, file_error
from slick_curator.probing.row_parser import type_name

__all__ = ["json_list_items"]

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"
_KEEP = 1 << 20  # consumed text is dropped once this much has piled up
_READ_AT_LEAST = 1 << 16  # text read more at a time for a cut item (doubling from there)
_NUMBER = "0123456789.eE+-"
# An error this far before the end of the buffered text is in the file, not in where the
# buffer ends (the longest token the decoder reads whole is a \u escape and its 4 digits); only an
# unterminated string may be the end of the buffer at any distance.
_SETTLED = 8


class _Text:
    """The file's text, read a chunk at a time; what has been consumed is dropped, counted
    for the line and column of an error."""

    def __init__(self, source: ByteSource, name: str | None) -> None:
        self._chunks = source.chunks()
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.name = name
        self.text = ""
        self.eof = False
        self._dropped = 0  # characters dropped from the start
        self._lines = 0  # line breaks among them
        self._column = 0  # characters after the last of them

    def more(self) -> bool:
        """Read the next chunk; False at the end of the file."""
        if self.eof:
            return False
        chunk = next(self._chunks, None)
        try:
            text = self._decoder.decode(chunk if chunk is not None else b"", final=chunk is None)
        except UnicodeDecodeError as exc:
            raise file_error(self.name, "not valid UTF-8") from exc
        self.eof = chunk is None
        self.text += text
        return True

    def drop(self, index: int) -> int:
        """Forget the text before `index`; the same place in the text that is left (0)."""
        if index < _KEEP:
            return index
        dropped = self.text[:index]
        breaks = dropped.count("\n")
        self._lines += breaks
        self._column = (self._column + index) if not breaks else index - dropped.rfind("\n") - 1
        self._dropped += index
        self.text = self.text[index:]
        return 0

    def char(self, index: int) -> tuple[str, int]:
        """The first character at or after `index` that is not whitespace ("" at the end)."""
        while True:
            while index < len(self.text) and self.text[index] in _WHITESPACE:
                index += 1
            if index < len(self.text) or not self.more():
                return self.text[index : index + 1], index

    def value(self, index: int) -> tuple[Any, int]:
        """The JSON value at `index` and where it ends, reading more text while it is cut."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, index)
                # A number may go on past the text read so far ("1" of "1.5e3", "12" of "123").
                cut = isinstance(value, (int, float)) and not self.text[end:].lstrip(_NUMBER)
                if not cut or not self.more():
                    return value, end
                continue
            except RecursionError as exc:
                raise file_error(self.name, "invalid JSON: nested too deeply to parse") from exc
            except json.JSONDecodeError as exc:
                settled = (exc.pos + _SETTLED < len(self.text)
                           and not exc.msg.startswith("Unterminated string"))
                if settled or self.eof:
                    raise self.invalid(exc.msg, exc.pos) from exc
                wanted = 2 * max(len(self.text) - index, _READ_AT_LEAST)
                while len(self.text) - index < wanted and self.more():
                    pass

    def invalid(self, message: str, index: int, hint: str = "") -> DatasetError:
        """The error json.loads gives: the message, then line, column and character."""
        breaks = self.text.count("\n", 0, index)
        line = self._lines + breaks + 1
        column = (index - self.text.rfind("\n", 0, index) if breaks
                  else self._column + index + 1)
        return file_error(self.name, f"invalid JSON: {message}: line {line} column {column} "
                                     f"(char {self._dropped + index}){hint}")


def json_list_items(source: ByteSource, name: str | None) -> Iterator[Any]:
    """Every item of the file's top-level list, in order; DatasetError for a file that is not
    one JSON list."""
    text = _Text(source, name)
    char, index = text.char(0)
    if char != "[":
        _refuse(text, index)
    char, index = text.char(index + 1)
    while char != "]":
        _, index = text.char(index)
        item, index = text.value(index)  # "Expecting value" after a trailing comma
        yield item
        char, index = text.char(index)
        if char not in (",", "]"):
            raise text.invalid("Expecting ',' delimiter", index)
        index = text.drop(index + (char == ","))
    char, index = text.char(index + 1)
    if char:
        raise text.invalid("Extra data", index, " (one object per line is JSONL)")


def _refuse(text: _Text, index: int) -> None:
    """Why a file that does not open with a list is not one (it may be JSON lines)."""
    if index >= len(text.text):
        raise text.invalid("Expecting value", index)
    value, end = text.value(index)
    char, end = text.char(end)
    if char:
        raise text.invalid("Extra data", end, " (one object per line is JSONL)")
    raise file_error(text.name, f"expected a JSON list of objects, got {type_name(value)}")
