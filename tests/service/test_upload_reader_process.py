"""A large upload is read in a child process (SLICK_UPLOAD_IN_PROCESS_BYTES): the dataset it
stores, and every refusal (bad rows with on_error=fail, a missing column, too many rows), are
what reading it in the API process gives."""

from __future__ import annotations

import pytest
from service_helpers import QUESTIONS, assert_error, jsonl, make_settings, running_app

BAD = jsonl(QUESTIONS[:5]) + b"{broken\n" + jsonl([{"question": "no answer"}])
CASES = {
    "good": (jsonl(QUESTIONS[:8]), {}),
    "bad rows skipped": (BAD, {}),
    "bad rows refused": (BAD, {"on_error": "fail"}),
    "no such column": (jsonl(QUESTIONS[:3]), {"question_column": "prompt"}),
    "too many rows": (jsonl(QUESTIONS[:3] * 5), {}),
}


def answers(in_process_bytes: int, tmp_path) -> dict:
    settings = make_settings(tmp_path, upload_in_process_bytes=in_process_bytes, max_rows=12)
    out = {}
    with running_app(settings, wait_ready=False) as client:
        for case, (body, params) in CASES.items():
            response = client.post("/v1/datasets", content=body,
                                   params={"name": "P36.jsonl", **params},
                                   headers={"Content-Type": "application/x-ndjson"})
            out[case] = response
        stored = client.get("/v1/datasets").json()["count"]
        readers = client.app.state.services.datasets.readers
        # The refused bad rows are the skipped ones already stored: refused without a read.
        assert readers.read_in_child == (len(CASES) - 1 if in_process_bytes == 0 else 0)
        assert list(client.app.state.services.store.paths.staging.iterdir()) == []
    return out, stored


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return (answers(0, tmp_path_factory.mktemp("child")),
            answers(1 << 30, tmp_path_factory.mktemp("here")))


def answer(response) -> tuple[int, dict]:
    body = response.json()
    body.pop("created_at", None)
    return response.status_code, body


def test_a_child_process_reads_an_upload_as_the_api_process_does(both):
    (child, child_stored), (here, here_stored) = both
    assert {c: answer(r) for c, r in child.items()} == {c: answer(r) for c, r in here.items()}
    assert child_stored == here_stored == 2  # the two accepted uploads, nothing else
    assert child["good"].status_code == 201
    assert child["bad rows skipped"].json()["valid_rows"] == 5


def test_refusals_from_the_child_keep_their_status_and_parameter(both):
    (child, _), _ = both

    assert_error(child["bad rows refused"], 400, "invalid_dataset", param="file",
                 message="2 bad row")
    assert_error(child["no such column"], 400, "invalid_dataset",
                 param="question_column")
    assert_error(child["too many rows"], 413, "payload_too_large",
                 message="SLICK_MAX_ROWS")
