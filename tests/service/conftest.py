"""Fixtures for service tests (helpers live in service_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from service_helpers import make_settings, running_app


@pytest.fixture(scope="session")
def client(tmp_path_factory) -> Iterator[TestClient]:
    """One app shared by the route tests (tests only assert on what they create)."""
    with running_app(make_settings(tmp_path_factory.mktemp("shared"))) as c:
        yield c
