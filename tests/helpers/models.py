"""Build each distinct model config once in a row (full-size ViT-B builds are slow), keeping only
the last model: a session-long cache of every distinct model held 8.6 GB in tests/test_configs.py
alone (peak RSS under /usr/bin/time -v), which made `make test` peak at 8.75 GB."""
from __future__ import annotations

import copy
import gc
import json
from typing import Dict

import torch
from mmengine.registry import init_default_scope

_LAST: Dict[str, torch.nn.Module] = {}


def build_model_once(model_cfg) -> torch.nn.Module:  # noqa: ANN001
    """``MODELS.build(model_cfg)``, reusing the previous call's model when the configs differ at
    most in ``backbone.init_cfg`` (read at ``init_weights``, never at build time): consecutive
    data-scaling, paper-protocol and baseline variants share their model. Only the last model is
    kept (memory); callers must not change the returned model."""
    from surgvista_mm.registry import MODELS
    cfg = copy.deepcopy(model_cfg.to_dict())
    if isinstance(cfg.get('backbone'), dict):
        cfg['backbone'].pop('init_cfg', None)
    key = json.dumps(cfg, sort_keys=True, default=str)
    if key not in _LAST:
        _LAST.clear()
        gc.collect()  # free the previous model before building the next one
        init_default_scope('surgvista_mm')
        _LAST[key] = MODELS.build(model_cfg)
    return _LAST[key]
