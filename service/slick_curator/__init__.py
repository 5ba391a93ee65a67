"""slick-curator: curate SFT data by asking the target model what it already knows (SliCK)."""

__version__ = "0.1.0"
