"""The dataset card (README.md with YAML metadata) of a curated Hugging Face export: which model
judged the rows, with which engine and parameters, what the policy did, per category."""

from __future__ import annotations

import json
from typing import Any

from slick_client.schemas import CurationSummary

from slick_curator.curation.annotated import AnnotatedFile

__all__ = ["dataset_card"]


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """Block YAML of nested dicts; scalars and lists as JSON, which YAML reads the same."""
    pad = " " * indent
    lines = []
    for key, item in value.items():
        if isinstance(item, dict) and item:
            lines.append(f"{pad}{json.dumps(str(key))}:")
            lines += _yaml(item, indent + 2)
        else:
            lines.append(f"{pad}{json.dumps(str(key))}: {json.dumps(item, default=str)}")
    return lines


def dataset_card(annotated: AnnotatedFile, summary: CurationSummary) -> str:
    meta = annotated.metadata
    categories: dict[str, int] = {}
    for category, actions in summary.by_category.items():
        categories[category] = sum(actions.values())
    slick = {
        "model": meta.get("model"),
        "engine": meta.get("engine", {}),
        "probe_params": meta.get("params", {}),
        "slick_curator_version": meta.get("slick_curator_version"),
        "categories": categories,
        "policy": summary.params.model_dump(mode="json"),
        "rows": {"in": summary.rows, "kept": summary.kept, "dropped": summary.dropped,
                 "relabelled": summary.relabelled, "trimmed": summary.trimmed},
    }
    front = "\n".join(["---", "tags:", "- slick-curator", "- sft", "slick_curator:",
                       *_yaml(slick, 2), "---"])
    body = (f"\n\n# Curated with slick-curator\n\nRows probed with SliCK on "
            f"`{slick['model']}` and curated with policy `{summary.params.policy}`: "
            f"{summary.rows} rows in, {summary.kept} kept, {summary.relabelled} relabelled, "
            f"{summary.trimmed} trimmed, {summary.dropped} dropped.\n")
    return front + body
