"""The wire schemas under their first name: `slick_client.schemas` holds them now."""

from slick_client.schemas import *  # noqa: F403
from slick_client.schemas import __all__  # noqa: F401
