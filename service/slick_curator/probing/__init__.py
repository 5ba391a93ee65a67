"""The probing core: datasets in, SliCK categories out. Plain Python; no HTTP, no torch."""
