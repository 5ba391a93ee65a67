"""Client for the slick-curator service."""

__all__: list[str] = []
