"""The `wait(progress=True)` bar: rows (probes) or optimizer steps (fine-tunes) done of total,
rate and ETA as the server reports them.

The rate and ETA come from the server's `Progress` rather than tqdm's own clock: a waiter that
attaches to a job half done would otherwise see a rate computed from rows it did not watch.
"""

from __future__ import annotations

from typing import IO, Any

from slick_client.schemas import FinetunePublic, ProbePublic

__all__ = ["ProgressBar"]

_BAR_FORMAT = ("{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit}s "
               "[{elapsed}{postfix}]")


class ProgressBar:
    """A tqdm bar fed with successive states of one job; does nothing when disabled."""

    def __init__(self, *, enabled: bool = True, file: IO[str] | None = None) -> None:
        self.enabled = enabled
        self._file = file
        self._bar: Any = None  # a tqdm bar, created on the first update

    def update(self, job: ProbePublic | FinetunePublic) -> None:
        """Show `job`'s progress: done of total, server rate and ETA, status."""
        if not self.enabled:
            return
        if self._bar is None:
            finetune = isinstance(job, FinetunePublic)
            self._bar = _bar_class()(
                total=job.progress.total or None,
                desc=f"{'fine-tune' if finetune else 'probe'} {job.id}",
                unit="step" if finetune else "row",
                bar_format=_BAR_FORMAT,
                file=self._file,
                dynamic_ncols=True,
                leave=True,
            )
        bar = self._bar
        if job.progress.total and bar.total != job.progress.total:
            bar.total = job.progress.total
        bar.n = job.progress.done
        bar.set_postfix_str(_postfix(job), refresh=False)
        bar.refresh()

    def write(self, message: str) -> None:
        """Print a line below the bar (or to stderr when there is none)."""
        if not self.enabled:
            return
        import sys

        from tqdm import tqdm

        tqdm.write(message, file=self._file or sys.stderr)

    def close(self) -> None:
        """Close the bar, leaving its last state on screen. Safe to call twice."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _bar_class() -> Any:
    """tqdm without its monitor thread: this bar is only ever moved by hand, and a monitor
    thread still alive when the interpreter exits can abort it once pyarrow is loaded
    ("terminate called without an active exception", seen in ~1 % of client smoke runs)."""
    from tqdm import tqdm

    class Bar(tqdm):  # type: ignore[misc]
        monitor_interval = 0

    return Bar


def _postfix(job: ProbePublic | FinetunePublic) -> str:
    parts = []
    finetune = isinstance(job, FinetunePublic)
    if job.progress.rate is not None:
        parts.append(f"{job.progress.rate:.3g} {'steps' if finetune else 'rows'}/s")
    if job.progress.eta_s is not None and job.status == "running":
        parts.append(f"ETA {_clock(job.progress.eta_s)}")
    parts.append(job.status)
    if finetune and job.status == "running":
        stage = job.progress.stage or ""
        if job.progress.variant and stage in ("training", "evaluating"):
            stage = f"{job.progress.variant} {stage}"
            if job.progress.epoch is not None:
                stage += f" (epoch {job.progress.epoch})"
        parts.append(stage)
    if not finetune and job.status == "succeeded" and job.counts:
        parts.append(" ".join(f"{name}={count}" for name, count in job.counts.items()))
    return ", ".join(parts)


def _clock(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
