"""An image encoder from timm, for the frame-level stage of the two-stage paradigm (docs/twostage.md).

The surgical-domain baselines of the paper's Fig. 4 are image models: SelfSupSurg (ResNet-50,
timm ``resnet50``), EndoViT (ViT-B/16, ``vit_base_patch16_224``), EndoSSL (ViT-L/16,
``vit_large_patch16_224``), GSViT (EfficientViT-M5, ``efficientvit_m5``) and the ImageNet ViT-B.
:class:`TimmImageEncoder` holds the timm model as ``self.model`` (so its state-dict keys are
``model.<timm key>``, the layout ``tools/convert_checkpoint.py`` writes for these baselines) and
returns timm's pooled, classifier-free features.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule

from surgvista_mm.registry import MODELS

__all__ = ['TimmImageEncoder']


@MODELS.register_module()
class TimmImageEncoder(BaseModule):
    """``timm.create_model(arch, pretrained=False, num_classes=0)``: pooled image features.

    Args:
        arch: timm architecture name (e.g. ``'resnet50'``, ``'vit_base_patch16_224'``).
        img_size: input side in pixels, for the architectures whose timm constructor takes one
            (ViTs, EfficientViT: position tables / attention biases depend on it).
        drop_path_rate: stochastic depth of the timm model (passed only when not 0, timm's
            default: some architectures, e.g. EfficientViT-M, have none).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH, prefix='backbone.')`` loads weights
            strictly (``weights_only=True``) in :meth:`init_weights`: a converted baseline file
            (keys ``model.*``) or a stage-1 training checkpoint (keys ``backbone.model.*``, the
            ``prefix`` is stripped). ``checkpoint=None`` keeps timm's random initialisation.
        pass_img_size: give ``img_size`` to timm. None (default): when the architecture takes
            it; CNNs such as ResNet take none (they run at any input size) and are built
            without it (logged).

    Attributes:
        out_channels: feature width ``C`` (timm's ``num_features``).
    """

    def __init__(self, arch: str, img_size: int = 224, drop_path_rate: float = 0.,
                 init_cfg: Optional[Dict] = None, pass_img_size: Optional[bool] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        import timm
        if not timm.is_model(arch):
            raise KeyError(f'TimmImageEncoder: unknown timm architecture {arch!r}')
        # 0 is timm's default; EfficientViT (MSRA) takes no drop_path_rate at all
        kwargs = dict(drop_path_rate=drop_path_rate) if drop_path_rate else {}
        try:
            self.model = timm.create_model(arch, pretrained=False, num_classes=0, **kwargs,
                                           **({} if pass_img_size is False
                                              else dict(img_size=img_size)))
        except TypeError as exc:  # the constructor's signature check: nothing was built yet
            if pass_img_size or 'img_size' not in str(exc):
                raise TypeError(f'TimmImageEncoder: timm {arch!r}: {exc}') from exc
            print_log(f'TimmImageEncoder: timm {arch!r} takes no img_size (it runs at any '
                      'input size)', logger='current')
            self.model = timm.create_model(arch, pretrained=False, num_classes=0, **kwargs)
        self.arch = arch
        self.img_size = img_size
        self.out_channels = int(self.model.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[N, C]`` of images ``[N, 3, H, W]`` (float, normalised).

        A one-frame clip ``[N, 3, 1, H, W]`` (what mmaction2's ``Recognizer3D`` passes for
        ``clip_len=1``) is accepted as the image ``[N, 3, H, W]``.
        """
        if x.dim() == 5:
            if x.shape[2] != 1:
                raise ValueError(f'TimmImageEncoder encodes single frames: got a clip of '
                                 f'{x.shape[2]} frames {tuple(x.shape)} (use clip_len=1)')
            x = x.squeeze(2)
        if x.dim() != 4:
            raise ValueError(f'TimmImageEncoder expects [N, 3, H, W], got {tuple(x.shape)}')
        return self.model(x)

    def init_weights(self) -> None:
        """Load a ``Pretrained`` init_cfg strictly; otherwise keep timm's initialisation."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            unknown = set(cfg) - {'type', 'checkpoint', 'prefix'}
            if unknown or 'checkpoint' not in cfg:
                raise KeyError(f'TimmImageEncoder Pretrained init_cfg takes checkpoint and '
                               f'prefix; got keys {sorted(cfg)}')
            if cfg['checkpoint'] is None:
                print_log(f'TimmImageEncoder({self.arch}): init_cfg.checkpoint=None, random '
                          'initialisation', logger='current')
            else:
                self.load_pretrained(cfg['checkpoint'], cfg.get('prefix', 'backbone.'))
            self._is_init = True
            return
        self._is_init = True  # timm initialised the weights at construction

    def load_pretrained(self, path: str, prefix: str = 'backbone.') -> None:
        """Load ``path`` (``weights_only=True``) strictly: keys ``model.*`` after stripping
        ``prefix`` when any key carries it. A missing, unexpected or mis-shaped key raises
        naming the file and the keys."""
        from surgvista_mm.checkpoint.safe_load import load_checkpoint_file
        from surgvista_mm.checkpoint.state_dict import check_state_dict, unwrap_state_dict
        state = unwrap_state_dict(load_checkpoint_file(path), path)
        if prefix and any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        target = {k: v.shape for k, v in self.state_dict().items()}
        check_state_dict(state, target, path)
        self.load_state_dict(state, strict=True)
        print_log(f'TimmImageEncoder({self.arch}): loaded {len(state)} tensors from {path}',
                  logger='current')

