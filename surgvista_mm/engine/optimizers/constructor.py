"""Optimizer construction with SurgVISTA's weight-decay rules and layer-wise LR decay."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS

from surgvista_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS

_KNOWN_KEYS = {'no_decay_keys', 'layer_decay_rate', 'backbone_prefix'}
#: parameter attribute holding its number of dimensions before FSDP flattened it
ORIG_NDIM_ATTR = 'surgvista_orig_ndim'
#: name parts that FSDP / activation-checkpoint wrappers insert into parameter names
_WRAPPER_NAME_PARTS = ('_fsdp_wrapped_module.', '_checkpoint_wrapped_module.')


def record_param_ndims(model: nn.Module) -> None:
    """Remember every parameter's ``ndim`` on the parameter itself (:data:`ORIG_NDIM_ATTR`).

    FSDP with ``use_orig_params=True`` keeps the parameter objects but turns their data into
    1-D views of the flat shard: called before wrapping, this keeps the "1-D parameters get no
    weight decay" rule right after it (``SurgVistaFSDPStrategy`` calls it).
    """
    for param in model.parameters():
        setattr(param, ORIG_NDIM_ATTR, param.ndim)


def original_ndim(param: nn.Parameter) -> int:
    """``param.ndim`` before FSDP flattening (when recorded), else ``param.ndim``."""
    return getattr(param, ORIG_NDIM_ATTR, param.ndim)


def clean_param_name(name: str) -> str:
    """A parameter name without the parts FSDP / checkpoint wrappers insert."""
    for part in _WRAPPER_NAME_PARTS:
        name = name.replace(part, '')
    return name


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SurgVistaOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Parameter groups for SurgVISTA pre-training and fine-tuning.

    Weight decay is 0 for every parameter with ``ndim <= 1`` (its shape before any FSDP
    flattening, see :func:`record_param_ndims`; norms, biases, ``q_bias`` /
    ``v_bias``), every name ending in ``.bias`` and every name containing one of
    ``no_decay_keys`` (position tables, mask tokens, cls tokens — the published code decays mask
    tokens by a name-matching bug; we do not). With ``layer_decay_rate`` r, a parameter at layer
    ``i`` of ``L`` layers gets ``lr_scale = r ** (L - 1 - i)``; the layer comes from the backbone's
    ``get_layer_depth(name, prefix)`` (mmpretrain's protocol) and every parameter outside the
    backbone is in the top layer (scale 1). Parameters are grouped by (decay, scale), so the
    optimizer holds a handful of groups, not one per parameter. Frozen parameters
    (``requires_grad=False``, e.g. a teacher) are left out.

    ``paramwise_cfg`` keys (anything else raises):
        no_decay_keys (Sequence[str]): default ``('pos_embed', 'mask_token', 'cls_token')``.
        layer_decay_rate (float | None): default None (no layer-wise decay).
        backbone_prefix (str): where the backbone sits in the model, default ``'backbone.'``.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = set(paramwise_cfg) - _KNOWN_KEYS
        if unknown:
            raise KeyError(f'optim_wrapper.paramwise_cfg: unknown key(s) {sorted(unknown)}; '
                           f'{type(self).__name__} accepts {sorted(_KNOWN_KEYS)}')
        self.no_decay_keys: Tuple[str, ...] = tuple(
            paramwise_cfg.get('no_decay_keys', ('pos_embed', 'mask_token', 'cls_token')))
        self.layer_decay_rate: Optional[float] = paramwise_cfg.get('layer_decay_rate')
        self.backbone_prefix: str = paramwise_cfg.get('backbone_prefix', 'backbone.')
        super().__init__(optim_wrapper_cfg, None)

    def _no_decay(self, name: str, param: nn.Parameter) -> bool:
        return (original_ndim(param) <= 1 or name.endswith('.bias')
                or any(key in name for key in self.no_decay_keys))

    def _lr_scale(self, model: nn.Module, name: str) -> Tuple[int, float]:
        if self.layer_decay_rate is None:
            return 0, 1.0
        backbone = getattr(model, 'backbone', None)
        if backbone is None or not hasattr(backbone, 'get_layer_depth'):
            raise TypeError('optim_wrapper.paramwise_cfg.layer_decay_rate needs a model with a '
                            '`backbone` that implements get_layer_depth(name, prefix)')
        layer_id, num_layers = backbone.get_layer_depth(name, self.backbone_prefix)
        return layer_id, float(self.layer_decay_rate) ** (num_layers - 1 - layer_id)

    def param_groups(self, model: nn.Module) -> List[Dict[str, Any]]:
        """The optimizer's parameter groups (with ``lr``, ``weight_decay`` and ``lr_scale``)."""
        groups: Dict[Tuple[bool, int], Dict[str, Any]] = {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            name = clean_param_name(name)
            no_decay = self._no_decay(name, param)
            layer_id, scale = self._lr_scale(model, name)
            group = groups.setdefault((no_decay, layer_id), dict(
                params=[], param_names=[], lr_scale=scale,
                weight_decay=0.0 if no_decay else self.base_wd))
            group['params'].append(param)
            group['param_names'].append(name)
        out = []
        for group in groups.values():
            if self.base_lr is not None:
                group['lr'] = self.base_lr * group['lr_scale']
            if group['weight_decay'] is None:
                del group['weight_decay']
            out.append(group)
        return out

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if hasattr(model, 'module'):
            model = model.module
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cfg['params'] = self.param_groups(model)
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        optim_wrapper_cfg = self.optim_wrapper_cfg.copy()
        optim_wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(optim_wrapper_cfg, default_args=dict(optimizer=optimizer))


__all__: Sequence[str] = ['SurgVistaOptimWrapperConstructor']
