"""Hub dataset folders (format `hub`): a dataset repository as the Hub serves it
(`data/train-*.parquet`) reads like any dataset, and a curated export written as one is what
`datasets.load_dataset` reads, dataset card included. The `datasets` package is the reference."""

from __future__ import annotations

import pytest
import yaml
from annotated_helpers import probe_file, qa_rows, script_for
from click.testing import CliRunner
from slick_client.schemas import CurationParams
from slick_curator.cli import cli
from slick_curator.curation import AnnotatedFile, curate, write_export
from slick_curator.curation.card import dataset_card
from slick_curator.probing.reading import DatasetError, read_dataset

datasets = pytest.importorskip("datasets")  # a dev dependency: present wherever tests run
IDK = "I don't know."


def hub_folder(path, rows, shards=2):
    """`rows` laid out as the Hub serves a dataset: the train split in Parquet shards."""
    whole = datasets.Dataset.from_list(rows)
    for i in range(shards):
        whole.shard(shards, i, contiguous=True).to_parquet(
            str(path / "data" / f"train-{i:05d}-of-{shards:05d}.parquet"))
    (path / "README.md").write_text("---\nlicense: mit\n---\n# A dataset\n")
    return path


def sharegpt(n=12):
    return [{"conversations": [{"from": "human", "value": r["question"]},
                               {"from": "gpt", "value": r["answer"]}],
             "relation": r["relation"], "n": i} for i, r in enumerate(qa_rows(n))]


def test_a_hub_folder_reads_like_a_file_its_shards_in_order(tmp_path):
    rows = qa_rows(9)
    data = read_dataset(hub_folder(tmp_path / "eq", rows, shards=3))
    assert (data.format, data.shape, len(data.examples)) == ("hub", "qa", 9)
    assert [e.question for e in data.examples] == [r["question"] for r in rows]


def test_a_folder_of_neither_kind_is_refused_naming_both(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="save_to_disk.*data/train-\\*.parquet"):
        read_dataset(tmp_path / "empty")


def test_curated_sharegpt_rows_of_a_hub_folder_come_back_as_one_load_dataset_reads(tmp_path):
    rows = sharegpt()
    folder = hub_folder(tmp_path / "sg", rows)
    annotated = probe_file(folder, tmp_path / "sg.annotated.parquet", **script_for(qa_rows(12)))
    data = AnnotatedFile.read(annotated)
    assert (data.format, data.kind) == ("hub", "chat")
    curated = curate(data, CurationParams(policy="relabel"))
    out = tmp_path / "curated.hub"
    write_export(curated.output(drop_annotations=True), out, "hub",
                 card=dataset_card(data, curated.summary))
    back = datasets.load_dataset(str(out), split="train",
                                 cache_dir=str(tmp_path / "cache")).to_list()
    unknown = {i for i in range(12) if i % 4 == 3}  # see script_for
    assert back == [{**r, "conversations": [r["conversations"][0],
                                            {"from": "gpt", "value": IDK}]}
                    if i in unknown else r for i, r in enumerate(rows)]
    meta = yaml.safe_load((out / "README.md").read_text().split("---")[1])
    assert meta["configs"][0]["data_files"][0]["split"] == "train"
    assert meta["slick_curator"]["policy"]["policy"] == "relabel"
    assert meta["slick_curator"]["rows"]["relabelled"] == len(unknown)


def test_slick_curate_keeps_a_hub_input_a_hub_folder_and_rewrites_it_whole(tmp_path):
    folder = hub_folder(tmp_path / "eq", qa_rows(8))
    annotated = probe_file(folder, tmp_path / "eq.annotated.parquet", **script_for(qa_rows(8)))
    for policy, kept in (("keep", 8), ("filter", 6)):  # the second export replaces the first
        result = CliRunner().invoke(cli, ["curate", str(annotated), "--policy", policy])
        assert result.exit_code == 0, result.output
        out = tmp_path / "eq.curated.hub"
        # A cache of its own per load: datasets may take a file rewritten within its mtime's
        # resolution for the one it cached.
        back = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / policy))
        assert back.num_rows == kept
    assert [p.name for p in (out / "data").iterdir()] == ["train-00000-of-00001.parquet"]


def test_library_curate_writes_a_hub_folder_when_asked(tmp_path):
    from slick_curator import curate as curate_rows
    from slick_curator import probe

    table = probe(sharegpt(8), engine="fake", model="fake", n_prompts=2, k_shot=2,
                  n_samples=2, progress=False)
    train = curate_rows(table, policy="relabel", output=tmp_path / "train", format="hub",
                        drop_annotations=True)
    back = datasets.load_dataset(str(tmp_path / "train"), split="train",
                                 cache_dir=str(tmp_path / "cache"))
    assert back.to_list() == train.to_pylist() and back.num_rows == 8
    assert "slick_curator:" in (tmp_path / "train" / "README.md").read_text()
