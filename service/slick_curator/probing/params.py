"""SliCK parameters. Defined once with the wire schemas (slick_client.schemas), used here."""

from slick_client.schemas import MatchMode, ProbeMode, ProbeParams, PromptFormat, UnknownAction

__all__ = ["MatchMode", "ProbeMode", "ProbeParams", "PromptFormat", "UnknownAction",
           "resolve_mode"]


def resolve_mode(params: ProbeParams, engine: str) -> ProbeParams:
    """`params` with a mode: the one asked for, else exact where engine `engine` can enumerate
    continuations (exact mode's 1,000-row agreement with full: bench/RESULTS.md) and top_k
    allows it, else adaptive. The same for every kind of row: free-form answers probed fact by
    fact run exact mode 3.7x faster than adaptive (24 long-form rows,
    bench/longform/RESULTS.md, 2026-12-06). Raises UnknownEngineError for an engine not
    registered."""
    if params.mode is not None:
        return params
    from slick_curator.engines.registry import supports_exact_mode

    exact = params.top_k >= 1 and supports_exact_mode(engine)
    return params.model_copy(update={"mode": "exact" if exact else "adaptive"})
