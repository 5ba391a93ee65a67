"""SliCK parameters. Defined once with the wire schemas (slick_client.schemas), used here."""

from slick_client.schemas import MatchMode, ProbeMode, ProbeParams, PromptFormat, UnknownAction

__all__ = ["MatchMode", "ProbeMode", "ProbeParams", "PromptFormat", "UnknownAction",
           "resolve_mode"]


def resolve_mode(params: ProbeParams, engine: str, kind: str = "qa") -> ProbeParams:
    """`params` with a mode: the one asked for, else exact where engine `engine` can enumerate
    continuations (exact mode's 1,000-row agreement with full: bench/RESULTS.md), top_k allows
    it and the answers are short-form -- rows of `kind` "qa" under answer_kind "auto", or
    answer_kind "short" -- else adaptive. Free-form answers are probed fact by fact, and exact
    mode's fact probes still copy caches per path: 7x slower than adaptive (measured on 8
    long-form rows, 2026-12-06). Raises UnknownEngineError for an engine not registered."""
    if params.mode is not None:
        return params
    from slick_curator.engines.registry import supports_exact_mode

    short = params.answer_kind == "short" or (params.answer_kind == "auto" and kind == "qa")
    exact = short and params.top_k >= 1 and supports_exact_mode(engine)
    return params.model_copy(update={"mode": "exact" if exact else "adaptive"})
