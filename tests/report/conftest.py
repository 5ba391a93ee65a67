"""Fixtures for the browser tests: headless Chromium, and annotated files built like the unit
tests build them (tests/unit/annotated_helpers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from cdp import Chromium, find_chromium


@pytest.fixture(scope="session")
def chromium():
    binary = find_chromium()
    if binary is None:
        pytest.fail("chromium is not installed: run `./setup.sh --dev` as root (it runs "
                    "`apt-get install -y chromium`) or install Debian's chromium package")
    with Chromium(binary) as browser:
        yield browser
