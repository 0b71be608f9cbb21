"""Shared test set-up: register the plugin, keep CPU threads modest, expose paths."""
from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import surgvista_mm  # noqa: E402,F401  (registers every module)


@pytest.fixture(scope='session')
def repo_root() -> str:
    return ROOT


@pytest.fixture(scope='session')
def test_data_dir() -> str:
    return os.path.join(ROOT, 'tests', 'data')
