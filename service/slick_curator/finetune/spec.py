"""What a fine-tune job runs: the plan, the settings, the model, and where results go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slick_client.schemas import FinetuneParams

from slick_curator.finetune.data import FinetunePlan
from slick_curator.finetune.messages import VariantJob
from slick_curator.finetune.sentence_judge import answers_in_sentences

__all__ = ["FinetuneSpec"]


@dataclass
class FinetuneSpec:
    """What to run: the plan, the settings, the model, and where results go."""

    out_dir: Path
    plan: FinetunePlan
    params: FinetuneParams
    variants: list[str]
    model_path: str
    model: str | None = None
    device: str | None = None
    finetune_id: str | None = None
    probe_id: str | None = None
    log_level: str | None = None
    log_json: bool = False

    def job(self, variant: str) -> VariantJob:
        plan = self.plan
        return VariantJob(
            variant=variant, model_path=self.model_path, params=self.params.model_dump(),
            rows=plan.variants[variant], dev=plan.dev, eval=plan.eval,
            prompt_format=plan.prompt_format, match=plan.match, k_shot=plan.k_shot,
            out_dir=str(self.out_dir / "variants" / variant), exemplars=plan.exemplars,
            sentences=answers_in_sentences(plan.exemplars),
            device=self.device, log_level=self.log_level, log_json=self.log_json,
            job_id=self.finetune_id)
