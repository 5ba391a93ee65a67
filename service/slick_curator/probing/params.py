"""SliCK parameters. Defined once with the wire schemas (slick_client.schemas), used here."""

from slick_client.schemas import MatchMode, ProbeMode, ProbeParams, PromptFormat, UnknownAction

__all__ = ["MatchMode", "ProbeMode", "ProbeParams", "PromptFormat", "UnknownAction"]
