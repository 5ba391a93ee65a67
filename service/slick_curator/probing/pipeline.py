"""A whole probe: dataset and exemplar pool in, shards of results out.

The CLI runs it in-process; the service's worker runs it with checkpoints. Both go through
`ProbeRun.shards`, which skips rows already finished, so a resumed run computes each row once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from slick_curator._version import __version__
from slick_curator.engines.base import Engine
from slick_curator.probing.answer_kind import example_kind
from slick_curator.probing.example_store import ExampleSubset, take
from slick_curator.probing.exemplar_groups import ExemplarGroups
from slick_curator.probing.facts import FactExtractor
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.prompts import ExemplarPool, exemplar_id
from slick_curator.probing.reading import Dataset
from slick_curator.probing.records import Example, RowError
from slick_curator.probing.row_index import IndexedRows, RowIndex, single_answer
from slick_curator.probing.runner import Prober
from slick_curator.probing.schema import annotate, results_table
from slick_curator.probing.templates import question_template, template_warnings


@dataclass
class ProbeRun:
    """Everything needed to probe one dataset; cheap to build, so resumes rebuild it.

    Exemplars come from `exemplars` (a separate file), else from `pool_rows` (the whole file
    when only its first rows are probed, so `--limit` never changes a row's prompts: its rows
    indexed, with `keep` applied, and fetched when used; probing.file_pool), else from the
    dataset itself.
    """

    dataset: Dataset
    params: ProbeParams
    exemplars: Dataset | None = None
    shard_size: int = 32
    pool_rows: IndexedRows | None = None
    pool: ExemplarPool = field(init=False)
    groups: ExemplarGroups = field(init=False)
    warnings: list[str] = field(init=False)

    def __post_init__(self) -> None:
        params = self.params
        keep = single_answer if params.multi_answer == "skip" else None
        rows = self.dataset.examples
        # One pass over the probed rows; from here on they are read a shard at a time.
        probed = RowIndex.build(rows, override=params.answer_kind, keep=keep,
                                tally=lambda e: question_template(e.question))
        if len(probed) < len(rows):
            self.dataset = _skip_multi_answer(self.dataset, probed.positions)
        if self.exemplars:
            source = self.exemplars.examples
            pooled = RowIndex.build(source, override=params.answer_kind, keep=keep)
            fetch = functools.partial(take, source)
        elif self.pool_rows is not None:
            pooled, fetch = self.pool_rows.index, self.pool_rows.fetch
        else:
            pooled, fetch = probed, functools.partial(take, rows)
        self.groups = ExemplarGroups(pooled, k_shot=params.k_shot, override=params.answer_kind)
        self.pool = ExemplarPool.from_index(
            self.groups.pool_index(),
            fetch,
            n_prompts=params.n_prompts,
            k_shot=params.k_shot,
            seed=params.seed,
        )
        probed_keys = self.groups.probed_keys(probed)
        self.pool.check(probed_keys)
        self.warnings = template_warnings(probed.counters) + self.pool.warnings(probed_keys)
        self._pool_groups = sorted(probed_keys)
        self._kinds = probed.kind_counts()
        self._facts: FactExtractor | None = None

    @property
    def facts(self) -> FactExtractor:
        """The fact extractor of free-form rows (loaded on first use, once per run)."""
        if self._facts is None:
            self._facts = FactExtractor(backend=self.params.fact_ner)
        return self._facts

    @property
    def total(self) -> int:
        return len(self.dataset.examples)

    @property
    def n_shards(self) -> int:
        return -(-self.total // self.shard_size)

    def shard(self, index: int) -> list[Example]:
        """Shard `index`: a fixed slice of the valid rows, the same on every run and resume."""
        start = index * self.shard_size
        return list(self.dataset.examples[start : start + self.shard_size])

    def shard_rows(self, index: int) -> list[int]:
        """The input row numbers of shard `index`."""
        return [e.row for e in self.shard(index)]

    def shards(self, finished: set[int] | frozenset[int] = frozenset()) -> Iterator[tuple[int, list[Example]]]:
        """(index, rows) of every shard not in `finished`, in input order.

        Shard boundaries never move, so a resumed run batches rows exactly as an uninterrupted
        one would and computes each row once.
        """
        for index in range(self.n_shards):
            if index not in finished:
                yield index, self.shard(index)

    def probe_shard(
        self,
        engine: Engine,
        shard: Sequence[Example],
        on_generated: Callable[[int], None] | None = None,
        on_rows: Callable[[int], None] | None = None,
    ) -> pa.Table:
        """Probe one shard and return its results table (the unit that is checkpointed)."""
        prober = Prober(
            engine, self.params, self.pool, self.groups.name, self._fact_extractor(shard),
            long_exemplars=self.groups.long_exemplars,
        )
        results = prober.probe(shard, on_generated, on_rows)
        return results_table(results, {e.row: e.group for e in shard})

    def _fact_extractor(self, shard: Sequence[Example]) -> FactExtractor | None:
        needs = any(example_kind(e, self.params.answer_kind) == "long" for e in shard)
        return self.facts if needs else None

    def metadata(self, engine_info: dict[str, str], **extra: object) -> dict[str, object]:
        """What an annotated file records about how it was made."""
        return {
            "slick_curator_version": __version__,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "engine": engine_info,
            "params": self.params.model_dump(),
            "shard_size": self.shard_size,
            "dataset": {
                "format": self.dataset.format,
                "kind": self.dataset.kind,
                "shape": self.dataset.shape,
                "rows": self.dataset.table.num_rows,
                "probed": len(self.dataset.examples),
                "skipped": len({e.row for e in self.dataset.errors}),
                "group_column": self.dataset.columns.group,
            },
            # The column map, so curation can find the answer/messages columns to relabel.
            "columns": dataclasses.asdict(self.dataset.columns),
            "exemplar_source": "exemplar file" if self.exemplars else "dataset",
            # Every exemplar set drawn, per group: slick_exemplar_sets indexes these lists.
            "exemplar_sets": {
                group: [
                    [exemplar_id(e) for e in members] for members in self.pool.exemplar_sets(group)
                ]
                for group in self._pool_groups
            },
            "answer_kinds": self._kinds,
            "fact_extractor": self.facts.describe() if self._kinds.get("long") else None,
            "warnings": self.warnings,
            **extra,
        }

    def annotate(self, results: pa.Table | Sequence[pa.Table], metadata: dict) -> pa.Table:
        return annotate(
            self.dataset.table,
            results,
            self.dataset.errors,
            metadata=metadata,
            unknown_action=self.params.unknown_action,
            keep_prompts=self.params.keep_prompts,
        )


def _skip_multi_answer(dataset: Dataset, kept: np.ndarray) -> Dataset:
    """Rows with more than one answer (all but `kept`) become skipped rows (the SliCK paper
    dropped them)."""
    dropped = np.setdiff1d(np.arange(len(dataset.examples)), kept).tolist()
    skipped = [
        RowError(e.row, "answers", f"{len(e.answers)} answers (multi_answer=skip)")
        for e in take(dataset.examples, dropped)
    ]
    errors = sorted([*dataset.errors, *skipped], key=lambda e: e.row)
    return dataclasses.replace(dataset, examples=ExampleSubset(dataset.examples, kept),
                               errors=errors)
