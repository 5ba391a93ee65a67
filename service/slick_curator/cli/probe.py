"""`slick probe FILE -o annotated.parquet`: run SliCK locally and write annotated Parquet."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from slick_curator.probing.params import ProbeParams


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.command()
@click.argument("dataset", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Annotated Parquet to write.")
@click.option("--model", default=None, help="Model alias, local folder or hub id. [smollm2-135m]")
@click.option("--engine", type=click.Choice(["transformers", "vllm", "openai"]),
              default="transformers", show_default=True,
              help="openai: a remote OpenAI-compatible server ($OPENAI_BASE_URL, "
                   "$OPENAI_API_KEY) serving --model.")
@click.option("--device", default=None, help="Torch device for transformers (cpu, cuda).")
@click.option("--mode", type=click.Choice(["adaptive", "full", "exact", "fast"]),
              default=None,
              help="full = the paper's 10 + 160 generations per row; exact = each "
                   "prompt's chance of a correct sample computed, the category drawn from "
                   "the protocol's odds; fast = teacher-forced golds (approximate). "
                   "[default: exact with transformers; adaptive with vllm and openai, or "
                   "with --top-k 0]")
@click.option("--limit", type=int, default=None, help="Only the first N rows of the file.")
@click.option("--exemplars", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Separate exemplar file (the paper used the dev split).")
@click.option("--n-prompts", type=int, default=10, show_default=True)
@click.option("--k-shot", type=int, default=4, show_default=True)
@click.option("--n-samples", type=int, default=16, show_default=True)
@click.option("--temperature", type=float, default=0.5, show_default=True)
@click.option("--top-k", type=int, default=40, show_default=True)
@click.option("--max-new-tokens", type=int, default=24, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--prompt-format", type=click.Choice(["plain", "chat"]), default="plain",
              show_default=True)
@click.option("--match", "match_mode", type=click.Choice(["exact", "squad", "contains"]),
              default="exact", show_default=True,
              help="squad: exactly the SQuAD / EntityQuestions EM normaliser.")
@click.option("--multi-answer", type=click.Choice(["aliases", "skip"]), default="aliases",
              show_default=True,
              help="Rows with several answers: each is an accepted alias, or skip the row "
                   "(as the SliCK paper did).")
@click.option("--answer-kind", type=click.Choice(["auto", "short", "long"]), default="auto",
              show_default=True,
              help="auto: a phrase is judged whole (the paper), a sentence or more fact by fact.")
@click.option("--fact-ner", type=click.Choice(["auto", "spacy", "rules"]), default="auto",
              show_default=True, help="How facts are found in free-form answers.")
@click.option("--fact-match", type=click.Choice(["position", "sentence"]), default="position",
              show_default=True,
              help="position: a fact probe must begin with the fact (a fact opening a "
                   "sentence: anywhere in the first sentence); sentence: anywhere in the "
                   "first sentence.")
@click.option("--unknown-action", type=click.Choice(["drop", "relabel"]), default="drop",
              show_default=True, help="Recommendation for Unknown rows.")
@click.option("--keep-prompts", is_flag=True, help="Store the exact prompts (slick_prompts).")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail",
              show_default=True, help="Bad rows: stop with a report, or skip and keep going.")
@click.option("--question-column", default="question", show_default=True)
@click.option("--answer-column", default="answer", show_default=True)
@click.option("--answers-column", default="answers", show_default=True)
@click.option("--messages-column", default="messages", show_default=True)
@click.option("--id-column", default="id", show_default=True)
@click.option("--group-column", default=None, help="Default: 'relation' if present.")
@click.option("--shard-size", type=int, default=64, show_default=True,
              help="Rows sent to the engine together (bigger batches, coarser progress).")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where finished shards are kept until the output is written, so a killed "
                   "run resumes. [.OUTPUT.slick-checkpoints beside OUTPUT]")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def probe(dataset: Path, output: Path, model, engine, device, mode, limit, exemplars, n_prompts,
          k_shot, n_samples, temperature, top_k, max_new_tokens, seed, prompt_format, match_mode,
          multi_answer, answer_kind, fact_ner, fact_match, unknown_action, keep_prompts, on_error, question_column, answer_column, answers_column,
          messages_column, id_column, group_column, shard_size, checkpoint_dir,
          no_progress) -> None:
    """Probe DATASET with the SliCK protocol and write annotated Parquet."""
    from pydantic import ValidationError

    from slick_curator.probing.columns import ColumnMap

    try:
        params = ProbeParams(
            n_prompts=n_prompts, k_shot=k_shot, n_samples=n_samples, temperature=temperature,
            top_k=top_k, max_new_tokens=max_new_tokens, mode=mode, prompt_format=prompt_format,
            match=match_mode, seed=seed, unknown_action=unknown_action, keep_prompts=keep_prompts,
            multi_answer=multi_answer, answer_kind=answer_kind, fact_ner=fact_ner,
            fact_match=fact_match,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}")
    from slick_curator.jobs.resumable import checkpoint_folder
    from slick_curator.library import ProbeError, ProbeRequest, probe_table
    from slick_curator.probing.schema import write_parquet

    columns = ColumnMap(question=question_column, answer=answer_column, answers=answers_column,
                        messages=messages_column, id=id_column, group=group_column)
    folder = checkpoint_folder(output, checkpoint_dir)
    request = ProbeRequest(dataset=dataset, params=params, columns=columns,
                           checkpoint_dir=folder, model=model, engine=engine, device=device,
                           exemplars=exemplars, limit=limit, on_error=on_error,
                           shard_size=shard_size, progress=not no_progress)
    try:
        table = probe_table(request, lambda line: click.echo(line, err=True))
    except ProbeError as exc:
        _fail(str(exc))
    write_parquet(table, output)
    shutil.rmtree(folder, ignore_errors=True)
    counts = table.group_by("slick_category").aggregate([("slick_category", "count")])
    summary = ", ".join(
        f"{c or 'skipped'}: {n}"
        for c, n in zip(counts.column(0).to_pylist(), counts.column(1).to_pylist(), strict=True)
    )
    click.echo(f"wrote {table.num_rows} rows to {output} ({summary})", err=True)
