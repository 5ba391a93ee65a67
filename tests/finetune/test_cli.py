"""`slick finetune`: a real local run (the evaluation file probed by the real model first),
and its errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from finetune_helpers import (
    EVAL_KNOWN,
    EVAL_UNKNOWN,
    UNKNOWN,
    annotated,
    eval_file,
    rows,
    training_file,
    write_jsonl,
)
from slick_curator.cli import cli
from slick_curator.probing.schema import read_metadata


@pytest.mark.model
def test_finetune_probes_a_plain_evaluation_file_and_writes_the_report(tmp_path):
    train = training_file(tmp_path)
    test = write_jsonl(tmp_path / "P36.test.jsonl", rows(EVAL_KNOWN + EVAL_UNKNOWN))
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-c", "from slick_curator.cli import main; main()", "finetune",
         str(train), "--eval", str(test), "-o", str(out), "--variants", "filter",
         "--epochs", "1", "--max-steps", "1", "--max-new-tokens", "6", "--bootstrap", "50",
         "--no-progress"], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert "probing 6 evaluation rows with smollm2-135m" in result.stderr
    assert "wrote" in result.stderr and "report.html" in result.stderr
    assert result.stdout.splitlines()[0].split() == ["variant", "checkpoint", "epoch",
                                                     "accuracy", "halluc.", "abstain",
                                                     "precision"]
    probed = pq.read_table(out / "eval.annotated.parquet")
    assert probed.num_rows == 6 and read_metadata(out / "eval.annotated.parquet")["params"][
        "n_prompts"] == 2  # probed with the training probe's parameters
    report = json.loads((out / "report.json").read_text())
    assert [v["variant"] for v in report["variants"]] == ["filter"]
    assert report["variants"][0]["steps"] == 1
    assert report["eval_rows"] == 6
    assert pq.read_table(out / "predictions.parquet").num_rows == 2 * 6
    assert (out / "report.html").read_text().count('data-chart="curve-filter"') == 1


def test_finetune_errors_exit_2_with_one_line(tmp_path):
    train = training_file(tmp_path)
    test = eval_file(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["finetune", str(train), "--eval", str(test), "-o",
                                 str(tmp_path / "o"), "--variants", "original,bogus"])
    assert result.exit_code == 2 and "--variants: unknown variant 'bogus'" in result.output
    result = runner.invoke(cli, ["finetune", str(train), "--eval", str(test), "-o",
                                 str(tmp_path / "o"), "--epochs", "0"])
    assert result.exit_code == 2 and "--epochs: Input should be greater than or equal to 1" \
        in result.output
    unknown = annotated(tmp_path, "unknown", rows(UNKNOWN), known_pairs=[])
    result = runner.invoke(cli, ["finetune", str(unknown), "--eval", str(test), "-o",
                                 str(tmp_path / "o"), "--variants", "filter"])
    assert result.exit_code == 2 and "variant 'filter' has no training rows" in result.output
    plain = tmp_path / "test.jsonl"  # the input, not the annotated result
    result = runner.invoke(cli, ["finetune", str(plain), "--eval", str(test), "-o",
                                 str(tmp_path / "o")])
    assert result.exit_code == 2 and "not a readable Parquet file" in result.output
