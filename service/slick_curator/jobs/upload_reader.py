"""Reading a staged upload into its parsed rows and the counts its dataset record needs.

`read_upload` reads the file chunk by chunk (probing.reading.scan_dataset), writes the parsed
rows as they come (probing.parsed.ParsedWriter) and tallies what the record says, so memory
holds one chunk whatever the row count. It never raises for what the file holds: problems come
back as a `ReadFailure`, plain data that crosses a process boundary. `UploadReaders` runs it in
the API process for a small file and in a child process for a large one: reading a million
rows holds the GIL for most of a minute, and in a child it cannot slow the API's other
requests (nor its memory).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import multiprocessing as mp
import threading
from dataclasses import dataclass, field
from pathlib import Path

from slick_curator.probing.columns import ColumnMap
from slick_curator.probing.parsed import ParsedWriter
from slick_curator.probing.read_errors import DatasetError, DatasetTooLarge, rows_error
from slick_curator.probing.read_limits import ReadLimits
from slick_curator.probing.reading import Chunk, scan_dataset

log = logging.getLogger(__name__)

__all__ = ["ReadFailure", "ReadOutcome", "ReadRequest", "UploadReaders", "read_upload"]

# Distinct questions counted per group: a probe needs at most k_shot + 1 (k_shot <= 32), so
# counting stops here and a group of a million questions costs no more than this.
DISTINCT_QUESTIONS_CAP = 1024
_CTX = mp.get_context("spawn")  # never fork a process with threads (and maybe torch)


@dataclass(frozen=True)
class ReadRequest:
    path: str
    format: str
    name: str
    columns: ColumnMap
    max_text_chars: int | None
    limits: ReadLimits
    parsed: str  # the folder the parsed rows go to
    listed: int  # row errors kept for the record
    on_error: str  # "fail": bad rows refuse the file and nothing is kept


@dataclass(frozen=True)
class ReadOutcome:
    """A file read and its parsed rows in place (or, where its table has no Parquet form,
    not: `parsed` False)."""

    format: str
    kind: str
    columns: ColumnMap
    names: list[str]
    rows: int
    valid_rows: int
    groups: dict[str, int]
    group_questions: dict[str, int]
    errors: list[dict]  # the first `listed` row errors, as dicts
    parsed: bool


@dataclass(frozen=True)
class ReadFailure:
    """Why nothing was stored: `kind` "too_large" (`what`: "bytes" or "rows"), "invalid" (the
    file, or with on_error=fail its rows: `errors` lists them) or "unreadable" (a reader
    fault, `message` names no path)."""

    kind: str
    message: str
    errors: list[dict] = field(default_factory=list)
    what: str | None = None


def read_upload(request: ReadRequest) -> ReadOutcome | ReadFailure:
    try:
        with ParsedWriter(Path(request.parsed)) as writer:
            scan = scan_dataset(request.path, format=request.format, columns=request.columns,
                                name=request.name, max_text_chars=request.max_text_chars,
                                limits=request.limits)
            tally = _Tally(request.listed)
            for chunk in scan.chunks():
                writer.add(chunk)
                tally.add(chunk)
            if tally.bad_rows and request.on_error == "fail":
                error = rows_error(tally.errors, scan.name, total=tally.bad_rows)
                return ReadFailure("invalid", str(error), _dicts(tally.errors))
            parsed = writer.finish(scan.format, scan.kind, scan.columns)
    except DatasetTooLarge as exc:
        return ReadFailure("too_large", str(exc), what=exc.what)
    except DatasetError as exc:
        return ReadFailure("invalid", str(exc), _dicts(exc.errors[: request.listed]))
    except Exception as exc:  # a reader bug must still be a clean answer, without paths
        log.warning("unreadable upload %r", request.name, exc_info=True)
        return ReadFailure("unreadable", f"could not read the file as {request.format} "
                                         f"({type(exc).__name__})")
    return ReadOutcome(
        format=scan.format, kind=scan.kind, columns=scan.columns, names=tally.names,
        rows=tally.rows, valid_rows=tally.valid_rows, groups=dict(sorted(tally.groups.items())),
        group_questions={g: len(q) for g, q in sorted(tally.questions.items())},
        errors=_dicts(tally.errors), parsed=parsed)


class UploadReaders:
    """Runs `read_upload` here for files up to `in_process_bytes`, else in a child process of
    its own (spawned, daemonic: it ends with the server), `max_children` at a time."""

    def __init__(self, in_process_bytes: int, max_children: int = 2) -> None:
        self.in_process_bytes = in_process_bytes
        self._slots = threading.BoundedSemaphore(max_children)
        self._lock = threading.Lock()
        self._children: set[mp.process.BaseProcess] = set()
        self.read_in_child = 0  # uploads read in a child process

    def read(self, request: ReadRequest, size: int) -> ReadOutcome | ReadFailure:
        if size <= self.in_process_bytes:
            return read_upload(request)
        with self._slots:
            return self._in_child(request)

    def _in_child(self, request: ReadRequest) -> ReadOutcome | ReadFailure:
        receive, send = _CTX.Pipe(duplex=False)
        child = _CTX.Process(target=_child_main, args=(request, send), daemon=True,
                             name="slick-upload-reader")
        with self._lock:
            child.start()
            self._children.add(child)
            self.read_in_child += 1
        send.close()  # the child holds its end: its death reads as EOF here
        try:
            try:
                return receive.recv()
            except EOFError:
                log.warning("the upload reader process died reading %r (exit code %s)",
                            request.name, child.exitcode)
                return ReadFailure("unreadable", "could not read the file: the reading "
                                                 "process ended (out of memory?)")
        finally:
            receive.close()
            child.join(5)
            with self._lock:
                self._children.discard(child)

    def close(self) -> None:
        """Stop the children still reading (the server is going away)."""
        with self._lock:
            children = list(self._children)
        for child in children:
            child.terminate()
            child.join(5)


def _child_main(request: ReadRequest, send) -> None:
    send.send(read_upload(request))
    send.close()


class _Tally:
    """What a dataset record says about the rows, gathered chunk by chunk: counts, groups,
    distinct questions per group (up to a cap) and the first `listed` row errors."""

    def __init__(self, listed: int) -> None:
        self.listed = listed
        self.rows = self.valid_rows = self.bad_rows = 0
        self.names: list[str] = []
        self.groups: collections.Counter[str] = collections.Counter()
        # Exact strings: never fewer than the pool's own (normalised) count, so probe
        # creation's check is never stricter than the worker's exact one.
        self.questions: dict[str, set[str]] = collections.defaultdict(set)
        self.errors: list = []

    def add(self, chunk: Chunk) -> None:
        self.names = self.names or chunk.table.column_names
        self.rows += chunk.table.num_rows
        self.valid_rows += len(chunk.examples)
        self.bad_rows += len(chunk.errors)
        self.errors += chunk.errors[: self.listed - len(self.errors)]
        for e in chunk.examples:
            self.groups[e.group] += 1
            seen = self.questions[e.group]
            if len(seen) < DISTINCT_QUESTIONS_CAP:
                seen.add(e.question)


def _dicts(errors) -> list[dict]:
    return [dataclasses.asdict(e) for e in errors]
