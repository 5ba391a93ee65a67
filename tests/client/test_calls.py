"""The sans-I/O core (slick_client._calls): one plan, driven by the sync and the async driver,
gets each call's result, has errors thrown in where it yielded, and is closed either way."""

from __future__ import annotations

import asyncio

import pytest
from slick_client._calls import Call, Sleep, arun_plan, run_plan

CLEANED: list[str] = []


def plan(fail_at: str):
    try:
        first = yield Call("GET", "/a", retry=True, parse=lambda r: r)
        yield Sleep(0)
        try:
            yield Call("GET", fail_at, retry=True, parse=lambda r: r)
        except ValueError as exc:
            return first, f"caught {exc}"
        return first, "no error"
    finally:
        CLEANED.append(fail_at)


def call(c: Call) -> str:
    if c.path == "/boom":
        raise ValueError("boom")
    if c.path == "/fatal":
        raise KeyError("fatal")
    return c.path


async def acall(c: Call) -> str:
    return call(c)


def drive(flavour: str, fail_at: str):
    if flavour == "sync":
        return run_plan(plan(fail_at), call)
    return asyncio.run(arun_plan(plan(fail_at), acall))


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_results_come_back_and_errors_are_thrown_in_where_they_happened(flavour):
    CLEANED.clear()
    assert drive(flavour, "/b") == ("/a", "no error")
    assert drive(flavour, "/boom") == ("/a", "caught boom")
    with pytest.raises(KeyError):  # not handled by the plan: raised to the caller
        drive(flavour, "/fatal")
    assert CLEANED == ["/b", "/boom", "/fatal"]  # every plan ran its cleanup
