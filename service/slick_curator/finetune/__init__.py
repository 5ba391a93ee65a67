"""Fine-tune and verify: train the probed model on each curation variant of its training
data (original, filter, relabel) and measure accuracy and hallucination on held-out questions.

Importing this package imports no torch: the trainer (`trainer`, `modeling`, `generation`)
loads only inside the training processes that `runner.run_finetune` spawns.
"""

from slick_curator.finetune.config import FinetuneParams
from slick_curator.finetune.data import FinetunePlan, VariantError, build_plan
from slick_curator.finetune.process import RunCancelled, RunFailed, RunInterrupted
from slick_curator.finetune.runner import run_finetune
from slick_curator.finetune.spec import FinetuneSpec

__all__ = [
    "FinetuneParams",
    "FinetunePlan",
    "FinetuneSpec",
    "RunCancelled",
    "RunFailed",
    "RunInterrupted",
    "VariantError",
    "build_plan",
    "run_finetune",
]
