"""Annotated training and evaluation files for fine-tune tests, made by the real probing
pipeline (ProbeRun + annotate) with the scripted FakeEngine: the categories are scripted, the
questions and answers are real facts (and a few made-up places the model cannot know)."""

from __future__ import annotations

import json
from pathlib import Path

from http_support import assert_error, sse_events, upload, wait_until  # noqa: F401 - the tests' imports
from slick_curator.engines.fake import FakeEngine
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.reading import read_dataset
from slick_curator.probing.schema import write_parquet

KNOWN = [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
         ("Japan", "Tokyo"), ("Egypt", "Cairo"), ("Russia", "Moscow"), ("Greece", "Athens"),
         ("Portugal", "Lisbon"), ("Austria", "Vienna")]
UNKNOWN = [("Zorbland", "Quxville"), ("Blarnia", "Fizzton"), ("Vexmoor", "Dralcaster"),
           ("Quenthia", "Mobrel"), ("Ostravel", "Pimbury"), ("Yarrowick", "Toldane")]
EVAL_KNOWN = [("Norway", "Oslo"), ("Ireland", "Dublin"), ("Poland", "Warsaw")]
EVAL_UNKNOWN = [("Drumvale", "Kestrin"), ("Harrowmere", "Solbeck"), ("Wintervast", "Ulmarch")]
PROBE = ProbeParams(n_prompts=2, k_shot=2, n_samples=2, mode="adaptive")


def rows(pairs, relation: str = "P36") -> list[dict]:
    return [{"question": f"What is the capital of {country}?", "answers": [capital],
             "relation": relation} for country, capital in pairs]


def script(known_pairs) -> dict[str, str]:
    return {f"What is the capital of {c}?": a for c, a in known_pairs}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def annotated(folder: Path, name: str, records: list[dict], known_pairs,
              params: ProbeParams = PROBE) -> Path:
    """Probe `records` with a FakeEngine that knows `known_pairs`; the annotated Parquet."""
    source = write_jsonl(folder / f"{name}.jsonl", records)
    data = read_dataset(source)
    run = ProbeRun(data, params)
    engine = FakeEngine(greedy=script(known_pairs))
    shards = [run.probe_shard(engine, shard) for _, shard in run.shards()]
    out = folder / f"{name}.annotated.parquet"
    write_parquet(run.annotate(shards, run.metadata(engine.info(), model="smollm2-135m",
                                                    source=source.name)), out)
    return out


def training_file(folder: Path) -> Path:
    return annotated(folder, "train", rows(KNOWN + UNKNOWN), KNOWN)


def eval_file(folder: Path) -> Path:
    return annotated(folder, "test", rows(EVAL_KNOWN + EVAL_UNKNOWN), EVAL_KNOWN)


# -- the service ---------------------------------------------------------------------------------

def service_settings(data_dir: Path, model_path: str, **overrides):
    """The real app with the scripted FakeEngine for probing (it knows KNOWN + EVAL_KNOWN) and
    the real model's folder as the model, so fine-tuning trains real weights."""
    from slick_curator.settings import Settings

    values = {"data_dir": data_dir, "engine": "fake", "model": model_path,
              "engine_options": {"greedy": script(KNOWN + EVAL_KNOWN), "delay_s": 0.01},
              "shard_size": 8, "allowed_engines": [], "progress_interval_s": 0.0,
              "shutdown_grace_s": 2.0}
    values.update(overrides)
    return Settings(**values)






def probe(client, dataset_id: str, *, wait: bool = True) -> dict:
    response = client.post("/v1/probes", json={"dataset_id": dataset_id,
                                               **PROBE.model_dump(mode="json")})
    assert response.status_code == 202, response.text
    job = response.json()
    if wait:
        job = wait_until(lambda: (p := client.get(f"/v1/probes/{job['id']}").json())["status"]
                         == "succeeded" and p, f"probe {job['id']}", timeout=60)
    return job


def wait_finetune(client, finetune_id: str, *statuses: str, timeout: float = 600.0,
                  seen: list | None = None) -> dict:
    def check():
        job = client.get(f"/v1/finetunes/{finetune_id}").json()
        if seen is not None:
            seen.append(job)
        return job if job["status"] in statuses else None

    return wait_until(check, f"fine-tune {finetune_id} to be {'/'.join(statuses)}", timeout,
                      interval=0.25)

