"""The release, in a module of its own so that no module needs the package's __init__."""

__version__ = "0.1.0"
