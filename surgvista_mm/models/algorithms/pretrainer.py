"""SurgVISTA pre-training: masked video reconstruction + feature distillation from an image
teacher (set the distillation parts to None for a plain video MAE)."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.model import BaseModel
from torch import nn

from surgvista_mm.registry import MODELS
from ..teachers.base import BaseFrozenTeacher
from ..utils.masking import tube_mask_torch
from ..utils.tokens import count_masked

_MASK_HINT = ('add the TubeMasking transform to the pipeline (it sets `mask` on each '
              'ActionDataSample) or give the model mask_generator=dict(mask_ratio=...)')


@MODELS.register_module()
class SurgVistaPretrainer(BaseModel):
    """SurgVISTA pre-training algorithm.

    ``loss`` = ``loss_pixel`` (weighted MSE of normalised pixels) + ``loss_distill`` (weighted
    SmoothL1 to the teacher features), both on masked tokens; the unweighted values are logged
    as ``pixel_mse`` and ``distill_smoothl1``.

    The teacher is frozen, kept out of ``state_dict()``, ``parameters()`` and therefore out of the
    optimizer, DDP and checkpoints; device/dtype moves reach it through :meth:`_apply` and its
    weights are loaded by :meth:`init_weights`.

    Args:
        backbone: encoder config (``SurgVistaViT``).
        pixel_decoder: reconstruction decoder config (``SurgVistaDecoder``).
        pixel_head: ``SurgVistaPixelHead`` config.
        distill_decoder: distillation decoder config, or None.
        distill_head: ``SurgVistaDistillHead`` config, or None.
        teacher: frozen teacher config (``SurgVistaImageTeacher`` / ``SurgVistaTimmTeacher``), or
            None. The three distillation parts are all given or all None.
        data_preprocessor: ``SurgVistaDataPreprocessor`` config (its mean/std also un-normalise
            the clip for the pixel target).
        mask_generator: ``dict(mask_ratio=float)`` to draw tube masks on the device when the
            samples carry none; None requires masks from the pipeline.
        decoder_keep_ratio: None (default: SurgVISTA's math, the decoders reconstruct every
            masked token) or a fraction in (0, 1): VideoMAE V2's decoder masking, a config
            switch that **changes the objective**: per clip, ``int(ratio * N_masked)`` masked
            tokens drawn at random (uniformly, not V2's running-cell pattern) are the only ones
            the decoders see and the losses use; the others are left out of the decoders'
            sequences. Measured in docs/benchmarks.md.
        init_cfg: mmengine init config.
    """

    def __init__(self, backbone: Dict, pixel_decoder: Dict, pixel_head: Dict,
                 distill_decoder: Optional[Dict] = None, distill_head: Optional[Dict] = None,
                 teacher: Optional[Dict] = None, data_preprocessor: Optional[Dict] = None,
                 mask_generator: Optional[Dict] = None,
                 decoder_keep_ratio: Optional[float] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='SurgVistaDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        parts = (distill_decoder, distill_head, teacher)
        if any(p is None for p in parts) and any(p is not None for p in parts):
            raise ValueError('distill_decoder, distill_head and teacher must all be given or all '
                             'be None (plain video MAE)')
        self.backbone = MODELS.build(backbone)
        self.pixel_decoder = MODELS.build(pixel_decoder)
        self.pixel_head = MODELS.build(pixel_head)
        self.distill_decoder = MODELS.build(distill_decoder) if teacher is not None else None
        self.distill_head = MODELS.build(distill_head) if teacher is not None else None
        teacher_module = MODELS.build(teacher) if teacher is not None else None
        if teacher_module is not None and not isinstance(teacher_module, BaseFrozenTeacher):
            raise TypeError(f'teacher must be a BaseFrozenTeacher, got '
                            f'{type(teacher_module).__name__}')
        # Not a registered submodule: outside state_dict, parameters, optimizer and DDP.
        object.__setattr__(self, '_teacher', teacher_module)
        self.mask_ratio = self._parse_mask_generator(mask_generator)
        if decoder_keep_ratio is not None and not 0.0 < float(decoder_keep_ratio) < 1.0:
            raise ValueError(f'decoder_keep_ratio must be None or in (0, 1), got '
                             f'{decoder_keep_ratio!r}')
        self.decoder_keep_ratio = None if decoder_keep_ratio is None \
            else float(decoder_keep_ratio)
        mean, std = self._normalisation(self.data_preprocessor)
        self.register_buffer('pixel_mean', mean, persistent=False)
        self.register_buffer('pixel_std', std, persistent=False)

    @staticmethod
    def _parse_mask_generator(cfg: Optional[Dict]) -> Optional[float]:
        if cfg is None:
            return None
        if set(cfg) != {'mask_ratio'}:
            raise KeyError(f'mask_generator takes only mask_ratio, got keys {sorted(cfg)}')
        return float(cfg['mask_ratio'])

    @staticmethod
    def _normalisation(preprocessor: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean/std in [0, 1] units, ``[1, 3, 1, 1, 1]`` float32 (computed in float64)."""
        if hasattr(preprocessor, 'mean_values'):
            mean = torch.tensor(preprocessor.mean_values, dtype=torch.float64)
            std = torch.tensor(preprocessor.std_values, dtype=torch.float64)
        elif getattr(preprocessor, 'mean', None) is not None:
            mean = preprocessor.mean.detach().double().reshape(-1).cpu()
            std = preprocessor.std.detach().double().reshape(-1).cpu()
        else:
            raise ValueError('the data preprocessor must normalise (mean/std): the pixel target '
                             'un-normalises with the same constants')
        shape = (1, -1, 1, 1, 1)
        return (mean / 255).float().view(shape), (std / 255).float().view(shape)

    @property
    def teacher(self) -> Optional[BaseFrozenTeacher]:
        """The frozen teacher (not a registered submodule), or None."""
        return self._teacher

    @property
    def with_distill(self) -> bool:
        return self._teacher is not None

    def _apply(self, fn, recurse: bool = True):  # noqa: ANN001 - torch's private signature
        """Device/dtype moves also reach the (unregistered) teacher."""
        super()._apply(fn, recurse)
        if self._teacher is not None:
            self._teacher._apply(fn, recurse)
        return self

    def init_weights(self) -> None:
        """Initialise the student (init_cfg) and load the teacher's checkpoint."""
        super().init_weights()
        if self._teacher is not None:
            self._teacher.init_weights()

    def _inputs_and_masks(self, inputs: torch.Tensor, data_samples: Optional[List]
                          ) -> Tuple[torch.Tensor, torch.Tensor, Optional[int]]:
        """Clip ``[B, 3, T, H, W]``, mask ``[B, N]`` and the host-known masked count."""
        if inputs.dim() == 6:
            if inputs.shape[1] != 1:
                raise ValueError(f'pre-training takes one clip per sample, got num_clips='
                                 f'{inputs.shape[1]}')
            inputs = inputs.squeeze(1)
        if data_samples and all('mask' in s for s in data_samples):
            mask = torch.stack([s.mask.reshape(-1) for s in data_samples]).to(
                device=inputs.device, dtype=torch.bool)
            counts = {s.metainfo.get('num_masked') for s in data_samples}
            num_masked = counts.pop() if len(counts) == 1 else None
            return inputs, mask, num_masked
        if self.mask_ratio is None:
            raise ValueError(f'the data samples carry no `mask`: {_MASK_HINT}')
        grid = self.backbone.token_grid
        mask = tube_mask_torch(inputs.shape[0], grid, self.mask_ratio, device=inputs.device)
        num_masked = int(self.mask_ratio * grid[1] * grid[2]) * grid[0]
        return inputs, mask, num_masked

    def pixel_clip(self, inputs: torch.Tensor) -> torch.Tensor:
        """Un-normalise the network input back to [0, 1]: ``x * std + mean``."""
        return inputs.float() * self.pixel_std + self.pixel_mean

    def loss(self, inputs: torch.Tensor, data_samples: Optional[List] = None
             ) -> Dict[str, torch.Tensor]:
        """Losses of a batch: ``loss_pixel``, ``loss_distill`` (weighted) and the logged
        ``pixel_mse``, ``distill_smoothl1``.

        Args:
            inputs: normalised clips ``[B, (1,) 3, T, H, W]`` (data preprocessor output).
            data_samples: samples carrying ``mask`` (bool ``[N]``, True = masked).
        """
        clip, mask, num_masked = self._inputs_and_masks(inputs, data_samples)
        latent = self.backbone(clip, mask, num_masked=num_masked)
        target = self.pixel_head.construct_target(self.pixel_clip(clip))
        targets, num_targets = self._decoder_targets(mask, num_masked)
        losses = self.pixel_head.loss(
            self.pixel_decoder(latent, mask, targets, num_targets), target,
            mask if targets is None else targets)
        if self.with_distill:
            features = self._teacher(clip)
            losses.update(self.distill_head.loss(
                self.distill_decoder(latent, mask, targets, num_targets), features,
                mask if targets is None else targets))
        return losses

    def _decoder_targets(self, mask: torch.Tensor, num_masked: Optional[int]
                         ) -> Tuple[Optional[torch.Tensor], Optional[int]]:
        """With ``decoder_keep_ratio``: a random subset of each row's masked tokens (bool
        ``[B, N]``) and its size per row; else ``(None, None)`` (every masked token)."""
        if self.decoder_keep_ratio is None:
            return None, None
        if num_masked is None:
            num_masked = count_masked(mask)
        keep = max(1, int(self.decoder_keep_ratio * num_masked))
        scores = torch.rand(mask.shape, device=mask.device).masked_fill_(~mask, 2.0)
        chosen = scores.topk(keep, dim=1, largest=False).indices
        targets = torch.zeros_like(mask).scatter_(1, chosen, True)
        return targets, keep

    def extract_feat(self, inputs: torch.Tensor, data_samples: Optional[List] = None
                     ) -> Dict[str, torch.Tensor]:
        """All intermediate tensors (for inspection and parity tests).

        Returns:
            ``encoder_out`` ``[B, Nv, D]``, ``decoder_pixel_out`` ``[B, Nm, P]``,
            ``pixel_target`` ``[B, Nm, P]`` (masked tokens), ``mask`` ``[B, N]`` and, with
            distillation, ``decoder_distill_out`` ``[B, Nm, C]`` and ``teacher_features``
            ``[B, N, C]`` (all tokens).
        """
        from ..utils.tokens import select_masked
        clip, mask, num_masked = self._inputs_and_masks(inputs, data_samples)
        latent = self.backbone(clip, mask, num_masked=num_masked)
        pixel_out = self.pixel_decoder(latent, mask)
        target = self.pixel_head.construct_target(self.pixel_clip(clip))
        out = dict(encoder_out=latent, decoder_pixel_out=pixel_out, mask=mask,
                   pixel_target=select_masked(target, mask, pixel_out.shape[1]))
        if self.with_distill:
            out['decoder_distill_out'] = self.distill_decoder(latent, mask)
            out['teacher_features'] = self._teacher(clip)
        return out

    def forward(self, inputs: torch.Tensor, data_samples: Optional[List] = None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor], List]:
        """``mode='loss'``: loss dict; ``'tensor'``: :meth:`extract_feat`; ``'predict'`` is not
        defined for pre-training."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs, data_samples)
        if mode == 'predict':
            raise NotImplementedError('SurgVistaPretrainer has no predict mode: pre-training is '
                                      'validated by its losses (use mode="loss" or "tensor")')
        raise ValueError(f"mode must be 'loss', 'tensor' or 'predict', got {mode!r}")
