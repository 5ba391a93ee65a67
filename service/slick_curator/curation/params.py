"""Curation parameters from strings, as the CLI and the query string give them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from slick_client.schemas import CATEGORIES, CurationParams

__all__ = ["CurationParamsError", "build_params", "parse_caps", "split_values"]


class CurationParamsError(ValueError):
    """A curation parameter is invalid; `param` names it."""

    def __init__(self, message: str, *, param: str | None) -> None:
        super().__init__(f"{param}: {message}" if param else message)
        self.message = message
        self.param = param


def split_values(values: Iterable[str] | str | None) -> list[str]:
    """Repeated and/or comma-separated values as one list ("a,b" + "c" -> a, b, c)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse_caps(values: Iterable[str] | str | None) -> dict[str, float]:
    """`Category:share` (or `Category=share`) items as a dict; the share may end in %."""
    caps: dict[str, float] = {}
    for item in split_values(values):
        name, sep, share = item.replace("=", ":").partition(":")
        if not sep:
            raise CurationParamsError(f"expected CATEGORY:SHARE (e.g. HighlyKnown:0.5), got "
                                      f"{item!r}", param="cap")
        name = name.strip()
        if name not in CATEGORIES:
            raise CurationParamsError(f"unknown category {name!r}; expected one of "
                                      f"{', '.join(CATEGORIES)}", param="cap")
        share = share.strip()
        try:
            caps[name] = float(share[:-1]) / 100 if share.endswith("%") else float(share)
        except ValueError:
            raise CurationParamsError(f"share of {name} is not a number: {share!r}",
                                      param="cap") from None
    return caps


def build_params(*, unknown: Iterable[str] | str | None = None,
                 cap: Iterable[str] | str | None = None, **fields: Any) -> CurationParams:
    """CurationParams from loose inputs; unset (None) fields keep their defaults.

    Raises CurationParamsError naming the field at fault (`cap` and `unknown` by their
    option names).
    """
    values = {k: v for k, v in fields.items() if v is not None}
    names = split_values(unknown)
    if names:
        bad = [n for n in names if n not in CATEGORIES]
        if bad:
            raise CurationParamsError(f"unknown category {bad[0]!r}; expected one of "
                                      f"{', '.join(CATEGORIES)}", param="unknown")
        values["unknown"] = tuple(dict.fromkeys(names))
    caps = parse_caps(cap)
    if caps:
        values["caps"] = caps
    try:
        return CurationParams(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ())]
        param = {"caps": "cap"}.get(loc[0], loc[0]) if loc else None
        message = str(first.get("msg", exc)).removeprefix("Value error, ")
        if first.get("type") == "extra_forbidden":
            message = f"unknown parameter; known: {', '.join(CurationParams.model_fields)}"
        raise CurationParamsError(message, param=param) from None
