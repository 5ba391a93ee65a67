"""One training run: fine-tune the model on one variant, evaluate, write the outcome.

The loop is plain torch (+ PEFT for LoRA) rather than a trainer framework, because each step
needs things frameworks make awkward: a cancel check, progress to the parent process, the KL
regulariser against the base model, and a generation-based dev evaluation every epoch.

- Loss: cross-entropy on the completion tokens only (prompt tokens are labelled -100), mean
  over the batch's answer tokens; plus `kl_weight` * KL(base || tuned) on the same tokens.
- Seeded: weights init (LoRA), shuffling per epoch, the dev split (made by the plan).
- After every epoch (and before the first, epoch 0): training fit of known and unknown rows
  (the share whose target greedy decoding reproduces exactly, measured teacher-forced: every
  answer token is the argmax) and dev accuracy (greedy answers, EM with aliases).
- Checkpoints: the weights of the best dev epoch (early stopping; ties go to the earlier
  epoch, epoch 0 is never chosen; without dev rows it is the last epoch) and the last epoch
  (convergence), both evaluated.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F

from slick_curator.atomic_files import write_json_atomic, write_parquet_atomic
from slick_curator.finetune.config import FinetuneParams, abstention_phrases
from slick_curator.finetune.data import EvalRow, TrainRow
from slick_curator.finetune.evaluate import Scorer, prediction_table
from slick_curator.finetune.generation import greedy_answers
from slick_curator.finetune.messages import (
    EpochDone,
    Stage,
    Started,
    StepDone,
    VariantJob,
    planned_steps,
)
from slick_curator.finetune.modeling import TrainableModel, load_model
from slick_curator.finetune.prompts import Formatter
from slick_curator.probing.prompts import ExemplarPool
from slick_curator.probing.records import Example

__all__ = ["TrainingCancelled", "answer_loss", "batches", "train_variant"]

log = logging.getLogger(__name__)

OUTCOME, PREDICTIONS = "outcome.json", "predictions.parquet"
_FIT_BATCH = 32


class TrainingCancelled(Exception):
    """The run was cancelled between steps."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class _Batch:
    """Left-padded rows, so every answer ends at the last position: logits are computed for
    the last `keep` positions only (the answers), not the whole prompt. Explicit position
    ids keep each row's tokens at their true positions despite the padding."""

    ids: torch.Tensor
    mask: torch.Tensor
    positions: torch.Tensor
    labels: torch.Tensor  # the last `keep` positions' next-token targets, -100 = no loss
    keep: int
    members: list[int]

    def forward(self, model: Any, device: Any) -> torch.Tensor:
        """Logits predicting the `labels` positions: (rows, keep, vocab)."""
        logits = model(input_ids=self.ids.to(device), attention_mask=self.mask.to(device),
                       position_ids=self.positions.to(device), use_cache=False,
                       logits_to_keep=self.keep + 1).logits
        return logits[:, :-1]


def batches(encoded: Sequence[tuple[list[int], list[int]]], order: Sequence[int],
             size: int, pad: int) -> list[_Batch]:
    out = []
    for start in range(0, len(order), size):
        members = list(order[start:start + size])
        width = max(len(encoded[i][0]) for i in members)
        keep = max(sum(1 for t in encoded[i][1] if t != -100) for i in members)
        ids = torch.full((len(members), width), pad, dtype=torch.long)
        mask = torch.zeros((len(members), width), dtype=torch.long)
        positions = torch.zeros((len(members), width), dtype=torch.long)
        labels = torch.full((len(members), keep), -100, dtype=torch.long)
        for r, i in enumerate(members):
            tokens, targets = encoded[i]
            offset = width - len(tokens)
            ids[r, offset:] = torch.tensor(tokens)
            mask[r, offset:] = 1
            positions[r, offset:] = torch.arange(len(tokens))
            tail = targets[-keep:]
            labels[r, keep - len(tail):] = torch.tensor(tail)
        out.append(_Batch(ids, mask, positions, labels, keep, members))
    return out


def answer_loss(tm: TrainableModel, batch: _Batch, device: Any, kl_weight: float = 0.0
                ) -> torch.Tensor:
    """Cross-entropy on the answer tokens, plus kl_weight * KL(base || tuned) on them."""
    targets = batch.labels.to(device)
    answer = targets != -100
    picked = batch.forward(tm.model, device)[answer].float()
    loss = F.cross_entropy(picked, targets[answer])
    if kl_weight > 0:
        with torch.no_grad(), tm.reference() as base:
            reference = batch.forward(base, device)[answer].float()
        kl = F.kl_div(F.log_softmax(picked, -1), F.log_softmax(reference, -1),
                      log_target=True, reduction="batchmean")
        loss = loss + kl_weight * kl
    return loss


class _Run:
    """State of one variant's training run."""

    def __init__(self, job: VariantJob, emit: Callable[[object], None],
                 cancelled: Callable[[], bool]) -> None:
        self.job = job
        self.emit = emit
        self.cancelled = cancelled
        self.params = FinetuneParams(**job.params)
        self.scorer = Scorer(abstention_phrases(self.params), job.match, job.sentences)

    def check(self) -> None:
        if self.cancelled():
            raise TrainingCancelled()

    # -- prompts --------------------------------------------------------------------------

    def eval_prompts(self, fmt: Formatter, rows: Sequence[EvalRow]) -> list[str]:
        if self.params.eval_prompt == "zero-shot" or self.job.k_shot == 0:
            return [fmt.prompt(r.question) for r in rows]
        pool_rows = [Example(row=t.row, question=t.question, answers=t.answers, group=t.group)
                     for t in self.job.exemplars]
        pool = ExemplarPool(pool_rows, n_prompts=1, k_shot=self.job.k_shot,
                            seed=self.params.seed)
        groups = set(pool.groups)
        prompts = []
        for r in rows:
            shots: list[Example] = []
            if r.group in groups:
                shots = pool.exemplars_for(Example(row=-1, question=r.question,
                                                   answers=r.answers, group=r.group))[0]
            prompts.append(fmt.prompt(r.question, shots))
        return prompts

    # -- measurements ---------------------------------------------------------------------

    def train_fit(self, model: Any, encoded, rows: Sequence[TrainRow], pad: int
                  ) -> tuple[float | None, float | None]:
        """Shares of known / unknown rows whose whole target is the greedy continuation."""
        fits: list[bool] = [False] * len(rows)
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        try:
            with torch.no_grad():
                for batch in batches(encoded, range(len(encoded)), _FIT_BATCH, pad):
                    self.check()
                    predicted = batch.forward(model, device).argmax(-1).cpu()
                    wrong = (predicted != batch.labels) & (batch.labels != -100)
                    for r, i in enumerate(batch.members):
                        fits[i] = not bool(wrong[r].any())
        finally:
            model.train(was_training)

        def share(known: bool) -> float | None:
            picked = [f for f, row in zip(fits, rows, strict=True) if row.known == known]
            return sum(picked) / len(picked) if picked else None

        return share(True), share(False)

    def dev_scores(self, model: Any, tokenizer: Any, prompts: Sequence[str]
                   ) -> tuple[float | None, float | None]:
        if not prompts:
            return None, None
        answers = greedy_answers(model, tokenizer, prompts,
                                 max_new_tokens=self.params.max_new_tokens, check=self.check,
                                 add_special_tokens=self.job.prompt_format != "chat")
        judged = [self.scorer(a, r.answers, r.question)
                  for a, r in zip(answers, self.job.dev, strict=True)]
        n = len(judged)
        return sum(c for c, _ in judged) / n, sum(a for _, a in judged) / n

    # -- the run --------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        job, p = self.job, self.params
        started = time.monotonic()
        seed_everything(p.seed)
        model, tokenizer, device = load_model(job.model_path, job.device)
        torch.manual_seed(p.seed)  # LoRA init: the same for every variant
        tm = TrainableModel(model, p)
        model = tm.model
        model.train()
        fmt = Formatter(tokenizer, job.prompt_format)
        encoded = [fmt.encode(r.question, r.target, p.max_length) for r in job.rows]
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        dev_prompts = self.eval_prompts(fmt, job.dev)
        eval_prompts = self.eval_prompts(fmt, job.eval)
        total = planned_steps(len(job.rows), p.batch_size, p.epochs, p.max_steps)
        self.emit(Started(job.variant, total, len(job.rows)))

        optimizer = torch.optim.AdamW([w for _, w in tm.trained], lr=p.learning_rate,
                                      weight_decay=p.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min(1.0, (s + 1) / p.warmup_steps) if p.warmup_steps else 1.0)

        curve = [self._point(0, 0, None, model, tokenizer, encoded, pad, dev_prompts)]
        best_epoch, best_dev, best_state = None, -math.inf, None
        steps, epoch, stale = 0, 0, 0
        while epoch < p.epochs and steps < total:
            epoch += 1
            order = torch.randperm(len(encoded), generator=torch.Generator().manual_seed(
                p.seed * 1_000_003 + epoch)).tolist()
            losses = []
            for batch in batches(encoded, order, p.batch_size, pad):
                self.check()
                loss = answer_loss(tm, batch, device, p.kl_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                steps += 1
                losses.append(loss.item())
                self.emit(StepDone(job.variant, epoch, steps, len(batch.members), losses[-1]))
                if steps >= total:
                    break
            point = self._point(epoch, steps, sum(losses) / len(losses), model, tokenizer,
                                encoded, pad, dev_prompts)
            curve.append(point)
            dev = point["dev_accuracy"]
            score = -math.inf if dev is None else dev
            if best_epoch is None or score > best_dev or dev is None:  # no dev: the last
                best_epoch, best_dev, best_state, stale = epoch, score, tm.snapshot(), 0
            else:
                stale += 1
            if p.patience is not None and dev is not None and stale >= p.patience:
                log.info("%s: no better dev accuracy for %d epochs; stopping", job.variant,
                         stale)
                break

        out = Path(job.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        last_state = tm.snapshot()
        self.emit(Stage(job.variant, "evaluating", epoch))
        answers = greedy_answers(model, tokenizer, eval_prompts,
                                 max_new_tokens=p.max_new_tokens, check=self.check,
                                 add_special_tokens=job.prompt_format != "chat")
        tables = [prediction_table(job.variant, "convergence", epoch, job.eval, answers,
                                   self.scorer)]
        if best_epoch != epoch:
            tm.restore(best_state)
            answers = greedy_answers(model, tokenizer, eval_prompts,
                                     max_new_tokens=p.max_new_tokens, check=self.check,
                                 add_special_tokens=job.prompt_format != "chat")
            tm.restore(last_state)
        tables.append(prediction_table(job.variant, "early_stop", best_epoch, job.eval,
                                       answers, self.scorer))
        if p.save_checkpoints:
            self.emit(Stage(job.variant, "saving", epoch))
            tm.save(str(out / "checkpoints" / "early_stop"), best_state, tokenizer)
            tm.save(str(out / "checkpoints" / "convergence"), last_state, tokenizer)
        categories: dict[str, int] = {}
        for row in job.rows:
            categories[row.category] = categories.get(row.category, 0) + 1
        outcome = {
            "variant": job.variant, "train_rows": len(job.rows),
            "relabelled_rows": sum(r.relabelled for r in job.rows),
            "train_categories": categories, "epochs": epoch, "steps": steps,
            "planned_steps": total, "best_epoch": best_epoch,
            "train_seconds": round(time.monotonic() - started, 3),
            "weight_change": tm.weight_change(last_state),
            "weight_change_early_stop": tm.weight_change(best_state),
            "curve": curve, "device": device, "trained_parameters":
                sum(w.numel() for _, w in tm.trained),
        }
        write_parquet_atomic(pa.concat_tables(tables), out / PREDICTIONS)
        write_json_atomic(outcome, out / OUTCOME)  # last: its presence means the run is complete
        return outcome

    def _point(self, epoch: int, steps: int, loss: float | None, model, tokenizer, encoded,
               pad: int, dev_prompts) -> dict[str, Any]:
        self.emit(Stage(self.job.variant, "evaluating_dev", epoch))
        known, unknown = self.train_fit(model, encoded, self.job.rows, pad)
        dev_accuracy, dev_abstention = self.dev_scores(model, tokenizer, dev_prompts)
        point = {"epoch": epoch, "steps": steps, "train_loss": loss, "train_fit_known": known,
                 "train_fit_unknown": unknown, "dev_accuracy": dev_accuracy,
                 "dev_abstention": dev_abstention}
        self.emit(EpochDone(self.job.variant, point))
        return point


def train_variant(job: VariantJob, emit: Callable[[object], None] = lambda m: None,
                  cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Train and evaluate one variant; writes `outcome.json` and `predictions.parquet` into
    `job.out_dir` and returns the outcome. Raises TrainingCancelled when `cancelled()`."""
    return _Run(job, emit, cancelled).run()


