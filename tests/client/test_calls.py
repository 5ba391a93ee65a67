"""The sans-I/O core (slick_client._calls): a plan, stepped by the Driver down to primitives,
gets each step's result, has errors thrown in where it yielded, is closed either way, and the
composite steps it yields expand into nested plans whose results and errors reach it."""

from __future__ import annotations

import httpx
import pytest
from slick_client._calls import Call, Close, Driver, Send, Sleep

CLEANED: list[str] = []
TIMEOUT = httpx.Timeout(1)


def plan(fail_at: str):
    try:
        first = yield Call("GET", "/a", retry=True)
        yield Sleep(0)
        try:
            yield Call("GET", fail_at, retry=True)
        except ValueError as exc:
            return first, f"caught {exc}"
        return first, "no error"
    finally:
        CLEANED.append(fail_at)


def perform(step) -> str:
    if step.path == "/boom":
        raise ValueError("boom")
    if step.path == "/fatal":
        raise KeyError("fatal")
    return step.path


def drive(work, expand=lambda step: None):
    driver = Driver(work, expand)
    try:
        for step in driver:
            driver.answer(lambda s: None if isinstance(s, Sleep) else perform(s), step)
    finally:
        driver.close()
    return driver.result


def test_results_come_back_and_errors_are_thrown_in_where_they_happened():
    CLEANED.clear()
    assert drive(plan("/b")) == ("/a", "no error")
    assert drive(plan("/boom")) == ("/a", "caught boom")
    with pytest.raises(KeyError):  # not handled by the plan: raised to the caller
        drive(plan("/fatal"))
    assert CLEANED == ["/b", "/boom", "/fatal"]  # every plan ran its cleanup


def test_composite_steps_expand_into_plans_whose_results_and_errors_reach_the_parent():
    def as_two_calls(step):
        if isinstance(step, Call) and step.path.startswith("/twice"):
            return twice(step.path.removeprefix("/twice"))
        return None

    def twice(path: str):
        a = yield Call("GET", path, retry=True)
        b = yield Call("GET", path, retry=True)
        return a + b

    def parent():
        joined = yield Call("GET", "/twice/x", retry=True)
        try:
            yield Call("GET", "/twice/boom", retry=True)
        except ValueError:
            return joined, "caught"

    assert drive(parent(), as_two_calls) == ("/x/x", "caught")


def test_a_plan_left_midway_runs_its_cleanup_and_streamed_responses_are_listed_open():
    response = httpx.Response(200)
    closed = httpx.Response(200)

    def streams():
        try:
            yield Send(Call("GET", "/a", retry=True, stream=True), "http://x/a", {}, TIMEOUT)
            yield Send(Call("GET", "/b", retry=True, stream=True), "http://x/b", {}, TIMEOUT)
            yield Close(closed)
            yield Sleep(0)
        finally:
            CLEANED.append("streams")

    CLEANED.clear()
    answers = iter([response, closed, None])
    driver = Driver(streams(), lambda step: None)
    for step in driver:
        if isinstance(step, Sleep):
            break  # the caller stops listening here
        driver.value = next(answers)
    driver.close()
    assert CLEANED == ["streams"] and driver.open == [response]
