"""slick-curator: curate SFT data by asking the target model what it already knows (SliCK)."""

from slick_curator._version import __version__

__all__ = ["__version__", "probe"]


def __getattr__(name: str):
    # `from slick_curator import probe` without importing pyarrow at package import.
    if name == "probe":
        from slick_curator.library import probe

        return probe
    raise AttributeError(f"module 'slick_curator' has no attribute {name!r}")
