"""`slick probe` argument handling that fails before any model loads."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from slick_curator.cli import cli
from slick_curator.engines.registry import supports_exact_mode, supports_fast_mode


@pytest.mark.parametrize(("mode", "supported"), [("fast", supports_fast_mode),
                                               ("exact", supports_exact_mode)])
def test_fast_and_exact_modes_need_an_engine_that_can_run_them(tmp_path, mode, supported):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps({"question": f"q{i}?", "answer": "a"}) for i in range(8)))
    result = CliRunner().invoke(cli, ["probe", str(data), "-o", str(tmp_path / "o.parquet"),
                                      "--engine", "vllm", "--mode", mode])
    assert result.exit_code == 2
    assert f"--mode {mode} needs the transformers engine" in result.output
    assert supported("transformers") and not supported("vllm")


def test_bad_rows_fail_with_row_and_field(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "q?", "answer": "a"}\n{"question": "q2?"}\nnot json\n')
    result = CliRunner().invoke(cli, ["probe", str(data), "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 2
    assert "row 1" in result.output and "'answer'" in result.output and "row 2" in result.output
    assert not (tmp_path / "o.parquet").exists()


def test_out_of_range_parameter_names_the_option(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "q?", "answer": "a"}\n')
    result = CliRunner().invoke(cli, ["probe", str(data), "-o", str(tmp_path / "o.parquet"),
                                      "--n-samples", "0"])
    assert result.exit_code == 2 and "--n-samples" in result.output

