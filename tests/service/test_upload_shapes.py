"""ShareGPT and Alpaca uploads over HTTP: the detected shape is in the upload response, and the
curated export comes back in the same shape."""

from __future__ import annotations

import json

from service_helpers import (
    QUESTIONS,
    SMALL_PROBE,
    make_settings,
    running_app,
    start_probe,
    upload,
    wait_status,
)

SHAREGPT = [{"conversations": [{"from": "human", "value": q["question"]},
                               {"from": "gpt", "value": q["answers"][0]}],
             "relation": q["relation"]} for q in QUESTIONS]
ALPACA = [{"instruction": q["question"], "input": "", "output": q["answers"][0],
           "relation": q["relation"]} for q in QUESTIONS]


def test_uploads_say_their_shape_and_exports_keep_it(tmp_path):
    with running_app(make_settings(tmp_path / "data")) as client:
        for rows, shape, answer_of in (
            (SHAREGPT, "sharegpt", lambda r: r["conversations"][-1]["value"]),
            (ALPACA, "alpaca", lambda r: r["output"]),
        ):
            dataset = upload(client, rows, name=f"{shape}.jsonl")
            assert (dataset["shape"], dataset["valid_rows"]) == (shape, len(rows))
            assert client.get(f"/v1/datasets/{dataset['id']}").json()["shape"] == shape
            probe = start_probe(client, dataset["id"], **SMALL_PROBE)
            wait_status(client, probe["id"], "succeeded")
            response = client.get(f"/v1/probes/{probe['id']}/curated",
                                  params={"policy": "relabel", "drop_annotations": "true"})
            assert response.status_code == 200 and response.headers["X-Slick-Format"] == "jsonl"
            got = [json.loads(line) for line in response.text.splitlines()]
            assert [set(r) for r in got] == [set(r) for r in rows]  # same keys, same shape
            relabelled = int(response.headers["X-Slick-Relabelled"])
            assert relabelled > 0
            assert sum(answer_of(r) != answer_of(o) for r, o in zip(got, rows, strict=True)) \
                == relabelled
