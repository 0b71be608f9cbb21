"""Any timm Vision Transformer as a frozen image teacher."""
from __future__ import annotations

from typing import Dict, Optional

import torch
from mmengine.logging import print_log

from surgvista_mm.checkpoint.state_dict import check_state_dict, strip_prefix, unwrap_state_dict
from surgvista_mm.checkpoint.safe_load import load_external_weights
from surgvista_mm.registry import MODELS
from .base import BaseFrozenTeacher, optional_path, resolve_out_layer


@MODELS.register_module()
class SurgVistaTimmTeacher(BaseFrozenTeacher):
    """A timm ViT (``timm.create_model(model_name, pretrained=False)``), frozen.

    Features come from ``forward_intermediates`` of block ``out_layer`` in ``NLC`` layout with
    the cls/register (prefix) tokens dropped. Weights are read from a local file in
    :meth:`init_weights` with ``weights_only=True`` (never downloaded).

    Args:
        model_name: timm model name, e.g. ``'vit_large_patch16_224'``.
        checkpoint: local weight file (dict under ``state_dict``/``model``/``module`` or bare;
            ``head.*`` dropped, ``backbone.`` stripped), loaded strictly.
        model_kwargs: extra keyword arguments of ``timm.create_model`` (e.g. ``img_size``).
        out_layer: block index (-1: last).
        out_norm: apply the model's final norm to that output.
        frame_stride, autocast, autocast_dtype: see :class:`BaseFrozenTeacher`.
    """

    def __init__(self, model_name: str, checkpoint: Optional[str] = None,
                 model_kwargs: Optional[Dict] = None, out_layer: int = -1,
                 out_norm: bool = False, frame_stride: int = 2, autocast: bool = False,
                 autocast_dtype: str = 'bfloat16') -> None:
        super().__init__(frame_stride=frame_stride, autocast=autocast,
                         autocast_dtype=autocast_dtype)
        import timm
        kwargs = dict(model_kwargs or {})
        for reserved in ('pretrained', 'num_classes'):
            if reserved in kwargs:
                raise KeyError(f'model_kwargs must not set {reserved!r} (teachers load local '
                               'weights and have no classifier)')
        self.model = timm.create_model(model_name, pretrained=False, num_classes=0, **kwargs)
        if not hasattr(self.model, 'forward_intermediates') or not hasattr(self.model, 'blocks'):
            raise TypeError(f'timm model {model_name!r} has no forward_intermediates/blocks; '
                            'use a Vision Transformer')
        self.out_index = resolve_out_layer(out_layer, len(self.model.blocks))
        self.out_norm = out_norm
        self.checkpoint = optional_path(checkpoint)
        self.freeze()

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """``[B', 3, H, W]`` -> patch tokens ``[B', H'*W', C]``."""
        feats = self.model.forward_intermediates(
            images, indices=[self.out_index], norm=self.out_norm, output_fmt='NLC',
            intermediates_only=True, stop_early=True)
        return feats[0]

    def init_weights(self) -> None:
        """Load ``checkpoint`` strictly (called by the algorithm's ``init_weights``)."""
        if self.checkpoint is None:
            print_log('SurgVistaTimmTeacher: no checkpoint given, the teacher keeps random '
                      'weights', logger='current', level=30)
        else:
            path = self.checkpoint
            state = strip_prefix(unwrap_state_dict(load_external_weights(path), path),
                                 'backbone.')
            state = {k: v for k, v in state.items() if not k.startswith('head.')}
            check_state_dict(state, {k: v.shape for k, v in self.model.state_dict().items()},
                             path)
            self.model.load_state_dict(state, strict=True)
            self.freeze()
            print_log(f'SurgVistaTimmTeacher: loaded {len(state)} tensors from {path}',
                      logger='current')
        self._is_init = True
