"""Load the scripts under tools/ (not a package) as modules, to call their ``main`` in-process."""
from __future__ import annotations

import importlib.util
import os.path as osp
from types import ModuleType

TOOLS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools')


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` afresh (``name`` may name a sub-folder: ``'analysis/eval_cvs'``).

    Returns:
        The executed module, named after the script.
    """
    path = osp.join(TOOLS, *name.split('/')) + '.py'
    spec = importlib.util.spec_from_file_location(osp.basename(name), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
