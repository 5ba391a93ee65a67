"""executor=ray on a real local Ray cluster (2 CPU workers, loopback): the same checkpoints
and the same result as a single-machine run.

1. The whole service (HTTP -> job manager -> worker process -> Ray actors) with the scripted
   engine: every column of the result equals a local run's.
2. The real SmolLM2-135M through the worker's job loop: a probe of EntityQuestions P36 rows
   on two actors equals the single-process run in rows and greedy fields, and a checkpointed
   shard is resumed, not recomputed.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from http_support import wait_until
from slick_curator.app import create_app
from slick_curator.engines import create_engine
from slick_curator.engines.fake import FakeEngine
from slick_curator.executors import RayOptions
from slick_curator.executors.base import LocalExecutor
from slick_curator.jobs.execute import run_job
from slick_curator.jobs.messages import DatasetSource, EngineKey, JobSpec, ShardDone, WorkerSpec
from slick_curator.jobs.worker import load_executor
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.reading import read_dataset
from slick_curator.settings import Settings
from slick_curator.weights import default_cache_dir

QUESTIONS = [{"question": f"What is the capital of region {i}?", "answers": [f"City{i}"]}
             for i in range(30)]
SCRIPT = {q["question"]: (q["answers"][0] if i % 3 else "Nowhere")
          for i, q in enumerate(QUESTIONS)}
PROBE = {"n_prompts": 2, "k_shot": 2, "n_samples": 3, "mode": "full"}
GREEDY_FIELDS = ["question", "answers", "slick_group", "slick_greedy_answers",
                 "slick_greedy_correct", "slick_n_greedy_correct", "slick_n_greedy",
                 "slick_p_greedy", "slick_exemplar_ids", "slick_status"]




def test_the_service_probes_on_ray_like_it_does_locally(ray_address, tmp_path):
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", engine="fake", model="fake",
        engine_options={"greedy": SCRIPT, "delay_s": 0.2}, allowed_engines=[], shard_size=4,
        progress_interval_s=0.0, shutdown_grace_s=5.0,
        executor="ray", ray_address=ray_address, ray_workers=2, ray_gpus_per_worker=0)
    body = "".join(json.dumps(q) + "\n" for q in QUESTIONS).encode()
    with TestClient(create_app(settings, configure_logs=False)) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200, "2 Ray actors loaded", 120)
        dataset = client.post("/v1/datasets", params={"name": "regions.jsonl"}, content=body,
                              headers={"Content-Type": "application/x-ndjson"})
        assert dataset.status_code == 201, dataset.text

        def probe() -> str:
            response = client.post("/v1/probes", json={"dataset_id": dataset.json()["id"],
                                                       **PROBE})
            assert response.status_code == 202, response.text
            return response.json()["id"]

        def finished(probe_id: str) -> dict:
            return wait_until(lambda: (r := client.get(f"/v1/probes/{probe_id}").json())["status"]
                         in ("succeeded", "failed", "cancelled") and r, "the probe", 120)

        # Cancelled while shards are out on the actors; the next job still runs.
        cancelled = probe()
        wait_until(lambda: client.get(f"/v1/probes/{cancelled}").json()["progress"]["done"] >= 4,
              "a first shard", 60)
        assert client.post(f"/v1/probes/{cancelled}/cancel").status_code == 202
        assert finished(cancelled)["status"] == "cancelled"

        probe_id = probe()
        record = finished(probe_id)
        assert record["status"] == "succeeded", record
        download = client.get(f"/v1/probes/{probe_id}/result")
        assert download.status_code == 200, download.text
        metrics = client.get("/metrics").text
    over_ray = pq.read_table(io.BytesIO(download.content))
    meta = json.loads(over_ray.schema.metadata[b"slick"])
    assert meta["engine"]["executor"] == "ray" and meta["engine"]["ray_workers"] == "2"
    probed = re.search(r"^slick_rows_probed_total (\S+)", metrics, re.MULTILINE)[1]
    assert float(probed) >= 30  # this job's rows and the cancelled job's first shards

    source = tmp_path / "regions.jsonl"
    source.write_bytes(body)
    run = ProbeRun(read_dataset(source), ProbeParams(**PROBE), shard_size=4)
    engine = FakeEngine("fake", greedy=SCRIPT)
    local = run.annotate([run.probe_shard(engine, rows) for _, rows in run.shards()], {})
    assert over_ray.num_rows == local.num_rows == 30
    assert over_ray.column_names == local.column_names
    assert over_ray.to_pylist() == local.to_pylist()


@pytest.fixture(scope="module")
def p36_six(tmp_path_factory, eq_dir) -> tuple[DatasetSource, DatasetSource]:
    """The first 6 rows of the P36 test file (as P36.test.json: the group comes from the
    name) and the P36 dev file as the exemplar pool."""
    folder = tmp_path_factory.mktemp("p36")
    rows = json.loads((eq_dir / "test" / "P36.test.json").read_text())[:6]
    (folder / "P36.test.json").write_text(json.dumps(rows))
    test = DatasetSource(path=str(folder / "P36.test.json"), format="json",
                         name="P36.test.json", columns={}, max_text_chars=None)
    dev = DatasetSource(path=str(eq_dir / "dev" / "P36.dev.json"), format="json",
                        name="P36.dev.json", columns={}, max_text_chars=None)
    return test, dev


def _job(job_dir: Path, sources) -> JobSpec:
    test, dev = sources
    params = ProbeParams(mode="adaptive", n_prompts=2, n_samples=2, max_new_tokens=8, seed=0)
    return JobSpec(id=f"pr_{job_dir.name}", dataset=test, exemplars=dev,
                   params=params.model_dump(mode="json"), shard_size=2, job_dir=str(job_dir),
                   model="smollm2-135m", dataset_id="ds_p36", exemplar_dataset_id="ds_dev")


def _run(executor, job: JobSpec) -> list:
    messages: list = []
    finished = run_job(executor, job, messages.append, lambda: False, lambda: True, 0.0)
    assert finished.status == "succeeded", finished
    return messages


@pytest.mark.model
def test_a_ray_run_equals_the_single_process_run(ray_address, model_path, p36_six, tmp_path):
    # Single machine: the transformers engine in this process, on one thread like each Ray
    # actor (Ray sets OMP_NUM_THREADS to the actor's 1 CPU), so both run the same kernels.
    import torch

    local_dir = tmp_path / "local"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with create_engine("transformers", model=model_path, device="cpu", seed=0) as engine:
            _run(LocalExecutor(engine), _job(local_dir, p36_six))
    finally:
        torch.set_num_threads(threads)
    local_shards = sorted(p.name for p in (local_dir / "shards").iterdir())
    assert local_shards == ["000000.parquet", "000001.parquet", "000002.parquet"]

    # Ray: two actors, each loading the engine as the worker would; shard 1 is already
    # checkpointed (as after a crash) and must be resumed, not recomputed.
    ray_dir = tmp_path / "ray"
    (ray_dir / "shards").mkdir(parents=True)
    shutil.copy(local_dir / "shards" / "000001.parquet", ray_dir / "shards")
    spec = WorkerSpec(key=EngineKey("transformers", "smollm2-135m"), device="cpu",
                      cache_dir=str(default_cache_dir()), engine_options={}, parent_pid=0,
                      executor=RayOptions(address=ray_address, workers=2, gpus_per_worker=0))
    executor = load_executor(spec)
    try:
        assert len({i["pid"] for i in executor.actor_infos}) == 2
        messages = _run(executor, _job(ray_dir, p36_six))
        assert executor.shards_done == [1, 1], "both actors probe; the resumed shard is skipped"
    finally:
        executor.close()
    assert sorted(m.index for m in messages if isinstance(m, ShardDone)) == [0, 2]
    assert sorted(p.name for p in (ray_dir / "shards").iterdir()) == local_shards
    for name in local_shards:
        rows = [pq.read_table(d / "shards" / name, columns=["slick_row"]).to_pylist()
                for d in (local_dir, ray_dir)]
        assert rows[0] == rows[1]

    local = pq.read_table(local_dir / "result.parquet")
    over_ray = pq.read_table(ray_dir / "result.parquet")
    assert over_ray.num_rows == local.num_rows == 6
    assert over_ray.column_names == local.column_names
    assert over_ray.select(GREEDY_FIELDS).to_pylist() == local.select(GREEDY_FIELDS).to_pylist()
    assert sum(len(a) for a in local.column("slick_greedy_answers").to_pylist()) == 12
    # Every sample draws from its own stream, whichever actor runs it: the sampled fields and
    # so the categories are the same too.
    for name in ("slick_category", "slick_n_sample_correct", "slick_n_samples"):
        assert over_ray.column(name).to_pylist() == local.column(name).to_pylist(), name
    engine_info = json.loads(over_ray.schema.metadata[b"slick"])["engine"]
    assert engine_info["executor"] == "ray" and engine_info["engine"] == "transformers"
