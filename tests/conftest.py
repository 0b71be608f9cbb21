"""Shared test set-up: register the plugin, expose paths, make demo data once per session."""
from __future__ import annotations

import os
import sys
from typing import Callable, Dict, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import surgvista_mm  # noqa: E402,F401  (registers every module)
from tests.helpers.tools import load_tool  # noqa: E402


@pytest.fixture(scope='session')
def repo_root() -> str:
    return ROOT


@pytest.fixture(scope='session')
def test_data_dir() -> str:
    return os.path.join(ROOT, 'tests', 'data')


@pytest.fixture(scope='session')
def make_demo(tmp_path_factory) -> Callable[..., str]:
    """``make_demo(*args)``: a folder of demo data made by ``tools/make_demo_data.py`` with the
    command-line arguments ``args`` (``--out`` aside).

    Each distinct argument list is generated once per session and its folder shared by every
    test asking for it, so tests must not write into it (copy it first).
    """
    tool = load_tool('make_demo_data')
    made: Dict[Tuple[str, ...], str] = {}

    def make(*args: str) -> str:
        if args not in made:
            out = str(tmp_path_factory.mktemp('demo'))
            assert tool.main(['--out', out, *args]) == 0
            made[args] = out
        return made[args]

    return make
