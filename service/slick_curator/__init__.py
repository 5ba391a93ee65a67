"""slick-curator: curate SFT data by asking the target model what it already knows (SliCK)."""

from slick_curator._version import __version__

__all__ = ["__version__", "curate", "probe", "report"]


def __getattr__(name: str):
    # `from slick_curator import probe` without importing pyarrow at package import.
    if name in ("curate", "probe", "report"):
        from slick_curator import library

        return getattr(library, name)
    raise AttributeError(f"module 'slick_curator' has no attribute {name!r}")
