"""SliCK parameters. Defined once with the wire schemas (slick_client.models), used here."""

from slick_client.models import MatchMode, ProbeMode, ProbeParams, PromptFormat, UnknownAction

__all__ = ["MatchMode", "ProbeMode", "ProbeParams", "PromptFormat", "UnknownAction"]
