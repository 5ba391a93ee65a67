"""Curation: turn an annotated result into training data with a policy, export it in the
input's format, and query annotated rows. Plain Python over Arrow; no HTTP here."""

from slick_client.schemas import CurationParams, CurationSummary

from slick_curator.curation.annotated import AnnotatedError, AnnotatedFile, question_and_gold
from slick_curator.curation.curate import Curated, curate
from slick_curator.curation.export import MEDIA_TYPES, export_format, write_export
from slick_curator.curation.policies import Decisions, decide

__all__ = [
    "MEDIA_TYPES",
    "AnnotatedError",
    "AnnotatedFile",
    "Curated",
    "CurationParams",
    "CurationSummary",
    "Decisions",
    "curate",
    "decide",
    "export_format",
    "question_and_gold",
    "write_export",
]
