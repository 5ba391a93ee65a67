"""Annotated Parquet fixtures for curation and report tests, made by the real probing pipeline
(ProbeRun + annotate + write_parquet) with a scripted engine, and synthetic annotated tables
for property tests."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from slick_curator.engines.fake import FakeEngine
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.reading import read_dataset
from slick_curator.probing.schema import METADATA_KEY, write_parquet


class ScriptedEngine(FakeEngine):
    """FakeEngine whose greedy answer to a `maybe` question is right on every other prompt
    (so it lands in MaybeKnown with P_greedy 0.5)."""

    def __init__(self, *, maybe: Mapping[str, str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.maybe = dict(maybe)
        self.seen: Counter[str] = Counter()

    def generate(self, requests):
        out = super().generate(requests)
        for request, result in zip(requests, out, strict=True):
            question = self.question_of(request.prompt)
            if request.params.greedy and question in self.maybe:
                self.seen[question] += 1
                right = self.seen[question] % 2 == 1
                result.texts[0] = " " + (self.maybe[question] if right else "Wrong")
        return out


def write_input(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write `rows` in the format the suffix of `path` names."""
    suffix = path.suffix
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif suffix == ".json":
        path.write_text(json.dumps(list(rows)))
    elif suffix == ".csv":
        names = list(dict.fromkeys(k for r in rows for k in r))
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, names)
            writer.writeheader()
            for r in rows:
                writer.writerow({k: json.dumps(v) if isinstance(v, list) else v
                                 for k, v in r.items()})
    elif suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(list(rows)), path)
    else:
        raise ValueError(suffix)
    return path


def relabelled_jsonl(source: Path, rows: Sequence[Mapping[str, Any]],
                     script: Mapping[str, Any], **export: Any) -> tuple[list[dict], Any, Any]:
    """`rows` written to `source`, probed with `script`, curated with the relabel policy and
    exported as JSONL beside it: (the exported rows read back, the curation, the annotated
    file)."""
    from slick_client.schemas import CurationParams
    from slick_curator.curation import AnnotatedFile, curate, write_export

    data = AnnotatedFile.read(probe_file(write_input(source, rows), **script))
    curated = curate(data, CurationParams(policy="relabel"))
    out = source.with_name("out.jsonl")
    write_export(curated.output(drop_annotations=True), out, "jsonl", **export)
    return [json.loads(line) for line in out.read_text().splitlines()], curated, data


def probe_file(data: Path, out: Path | None = None, *, greedy: Mapping[str, str] = (),
               samples: Mapping[str, str] = (), maybe: Mapping[str, str] = (),
               mode: str = "adaptive", n_prompts: int = 2, n_samples: int = 2,
               engine: FakeEngine | None = None, **read: Any) -> Path:
    """Probe `data` with a scripted engine (or `engine`) and write the annotated Parquet
    (default beside it)."""
    dataset = read_dataset(data, on_error="skip", **read)
    params = ProbeParams(n_prompts=n_prompts, k_shot=1, n_samples=n_samples, mode=mode)
    run = ProbeRun(dataset, params, shard_size=8)
    engine = engine or ScriptedEngine(greedy=dict(greedy), samples=dict(samples),
                                      maybe=dict(maybe))
    shards = [run.probe_shard(engine, rows) for _, rows in run.shards()]
    table = run.annotate(shards, run.metadata(engine.info(), model="fake-model",
                                              source=data.name))
    out = out or data.with_name(data.name.split(".")[0] + ".annotated.parquet")
    write_parquet(table, out)
    return out


def qa_rows(n: int = 12, groups: Sequence[str] = ("P36", "P17")) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "question": f"What is the capital of land {i}?",
             "answer": f"City {i}", "relation": groups[i % len(groups)], "extra": i}
            for i in range(n)]


def script_for(rows: Sequence[Mapping[str, Any]], *, question: str = "question",
               answer: str = "answer") -> dict[str, dict[str, str]]:
    """Rows 0, 4, 8 … HighlyKnown, 1, 5 … MaybeKnown, 2, 6 … WeaklyKnown, 3, 7 … Unknown."""
    script: dict[str, dict[str, str]] = {"greedy": {}, "maybe": {}, "samples": {}}
    for i, r in enumerate(rows):
        kind = ("greedy", "maybe", "samples", None)[i % 4]
        if kind:
            script[kind][r[question]] = r[answer]
    return script


def synthetic(categories: Sequence[str | None], *, groups: Sequence[str] | None = None,
              p_greedy: Sequence[float | None] | None = None,
              p_sample: Sequence[float | None] | None = None,
              kind: str = "qa") -> pa.Table:
    """A minimal annotated table (None category = a skipped row) with slick metadata."""
    n = len(categories)
    defaults = {"HighlyKnown": (1.0, 1.0), "MaybeKnown": (0.5, 0.5), "WeaklyKnown": (0.0, 0.1),
                "Unknown": (0.0, 0.0), None: (None, None)}
    pg = list(p_greedy) if p_greedy is not None else [defaults[c][0] for c in categories]
    ps = list(p_sample) if p_sample is not None else [defaults[c][1] for c in categories]
    table = pa.table({
        "question": [f"q{i}?" for i in range(n)],
        "answer": [f"a{i}" for i in range(n)],
        "slick_group": [None if c is None else (groups[i] if groups else "all")
                        for i, c in enumerate(categories)],
        "slick_category": pa.array(categories, pa.string()),
        "slick_p_greedy": pa.array(pg, pa.float64()),
        "slick_p_sample": pa.array(ps, pa.float64()),
        "slick_status": ["skipped" if c is None else "probed" for c in categories],
        "slick_error": [("answer: missing" if c is None else None) for c in categories],
    })
    meta = {"dataset": {"format": "jsonl", "kind": kind}, "params": {}, "engine": {}}
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
