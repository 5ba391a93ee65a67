"""Hugging Face datasets as users have them: a `save_to_disk` folder is read like any dataset
file (every shape), and a curated export written as such a folder opens with
`datasets.load_from_disk`. The `datasets` package itself is the reference here; the reader and
writer need only pyarrow."""

from __future__ import annotations

import json

import pytest
from annotated_helpers import probe_file, qa_rows, script_for
from click.testing import CliRunner
from slick_client.schemas import CurationParams
from slick_curator.cli import cli
from slick_curator.curation import AnnotatedFile, curate, write_export
from slick_curator.probing.reading import DatasetError, read_dataset

datasets = pytest.importorskip("datasets")  # a dev dependency: present wherever tests run
IDK = "I don't know."


def sharegpt(n=12):
    return [{"conversations": [{"from": "human", "value": r["question"]},
                               {"from": "gpt", "value": r["answer"]}],
             "relation": r["relation"], "n": i} for i, r in enumerate(qa_rows(n))]


def test_a_save_to_disk_folder_reads_like_a_file(tmp_path):
    folder = tmp_path / "eq"
    datasets.Dataset.from_list(qa_rows(8)).save_to_disk(folder)
    data = read_dataset(folder)
    assert (data.format, data.shape, len(data.examples)) == ("hf", "qa", 8)
    assert data.examples[3].question == qa_rows(8)[3]["question"]
    assert data.examples[3].group == qa_rows(8)[3]["relation"]


def test_a_dataset_dict_folder_says_to_pick_a_split(tmp_path):
    folder = tmp_path / "dd"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(qa_rows(4))}).save_to_disk(folder)
    with pytest.raises(DatasetError, match=r"DatasetDict \(splits: train\).*dd/train"):
        read_dataset(folder)
    assert len(read_dataset(folder / "train").examples) == 4


def test_curated_sharegpt_rows_come_back_as_a_folder_datasets_opens(tmp_path):
    rows = sharegpt()
    folder = tmp_path / "sg"
    datasets.Dataset.from_list(rows).save_to_disk(folder)
    annotated = probe_file(folder, tmp_path / "sg.annotated.parquet", **script_for(qa_rows(12)))
    data = AnnotatedFile.read(annotated)
    assert (data.format, data.kind) == ("hf", "chat")
    curated = curate(data, CurationParams(policy="relabel"))
    out = tmp_path / "curated.hf"
    write_export(curated.output(drop_annotations=True), out, "hf")
    back = datasets.load_from_disk(str(out)).to_list()
    unknown = {i for i in range(12) if i % 4 == 3}  # see script_for
    assert back == [{**r, "conversations": [r["conversations"][0],
                                            {"from": "gpt", "value": IDK}]}
                    if i in unknown else r for i, r in enumerate(rows)]


def test_slick_curate_writes_a_folder_for_hf_input(tmp_path):
    folder = tmp_path / "eq"
    datasets.Dataset.from_list(qa_rows(8)).save_to_disk(folder)
    annotated = probe_file(folder, tmp_path / "eq.annotated.parquet", **script_for(qa_rows(8)))
    result = CliRunner().invoke(cli, ["curate", str(annotated), "-o", str(tmp_path / "out.hf")])
    assert result.exit_code == 0, result.output
    back = datasets.load_from_disk(str(tmp_path / "out.hf"))
    assert back.num_rows == 6 and "question" in back.column_names  # Unknown rows dropped
    assert json.loads((tmp_path / "out.hf" / "state.json").read_text())["_data_files"]


def test_the_library_probes_a_datasets_dataset_as_its_rows():
    from slick_curator import probe

    small = {"engine": "fake", "model": "fake", "n_prompts": 2, "k_shot": 2, "n_samples": 2,
             "progress": False}
    rows = qa_rows(8)
    from_hf = probe(datasets.Dataset.from_list(rows), **small)
    from_rows = probe(rows, **small)
    slick = [c for c in from_rows.column_names if c.startswith("slick_")]
    assert from_hf.select(slick).to_pylist() == from_rows.select(slick).to_pylist()


def test_library_curate_writes_a_folder_with_a_dataset_card_and_report_renders(tmp_path):
    import yaml
    from slick_curator import curate, probe, report

    rows = sharegpt(8)
    table = probe(rows, engine="fake", model="fake", n_prompts=2, k_shot=2, n_samples=2,
                  progress=False)
    out = tmp_path / "train.hf"
    train = curate(table, policy="relabel", output=out, drop_annotations=True)
    back = datasets.load_from_disk(str(out))
    assert back.to_list() == train.to_pylist() and back.num_rows == 8
    card = (out / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])["slick_curator"]
    assert meta["model"] == "fake" and meta["policy"]["policy"] == "relabel"
    assert sum(meta["categories"].values()) == 8 and meta["rows"]["in"] == 8
    assert meta["probe_params"]["n_prompts"] == 2
    page = report(table, path=tmp_path / "r.html")
    assert page.lower().startswith("<!doctype html>") and (tmp_path / "r.html").read_text() == page
