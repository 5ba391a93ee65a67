"""Structured logging: text or one JSON object per line, with the job id on every job line.

The job id travels in a context variable (`job_context`), so code deep inside a job (the
probing core, the engines) logs it without knowing about jobs.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator

__all__ = ["configure_logging", "current_job", "job_context"]

current_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("slick_job", default=None)


@contextlib.contextmanager
def job_context(job_id: str | None) -> Iterator[None]:
    """Tag every log record made inside the block with `job_id`."""
    token = current_job.set(job_id)
    try:
        yield
    finally:
        current_job.reset(token)


class JobFilter(logging.Filter):
    """Adds `job_id` (None outside a job) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job_id", None) is None:
            record.job_id = current_job.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, job_id, process, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.processName,
        }
        job_id = getattr(record, "job_id", None)
        if job_id:
            out["job_id"] = job_id
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger [job id] message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(job)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        job_id = getattr(record, "job_id", None)
        record.job = f"[job {job_id}] " if job_id else ""
        return super().format(record)


def configure_logging(level: str = "INFO", json_logs: bool = False) -> None:
    """Install one stderr handler on the root logger (replacing a previous one of ours)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_slick", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._slick = True  # type: ignore[attr-defined]
    handler.addFilter(JobFilter())
    handler.setFormatter(JsonFormatter() if json_logs else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
