"""Build each distinct model config once per test session (full-size ViT-B builds are slow)."""
from __future__ import annotations

import copy
import json
from typing import Dict

import torch
from mmengine.registry import init_default_scope

_BUILT: Dict[str, torch.nn.Module] = {}


def build_model_once(model_cfg) -> torch.nn.Module:  # noqa: ANN001
    """``MODELS.build(model_cfg)``, reusing the model already built from a config that differs
    at most in ``backbone.init_cfg`` (read at ``init_weights``, never at build time): the
    data-scaling, paper-protocol and baseline variants share their model. Callers must not
    change the returned model."""
    from surgvista_mm.registry import MODELS
    cfg = copy.deepcopy(model_cfg.to_dict())
    if isinstance(cfg.get('backbone'), dict):
        cfg['backbone'].pop('init_cfg', None)
    key = json.dumps(cfg, sort_keys=True, default=str)
    if key not in _BUILT:
        init_default_scope('surgvista_mm')
        _BUILT[key] = MODELS.build(model_cfg)
    return _BUILT[key]
