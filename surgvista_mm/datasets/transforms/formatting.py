"""Pack a clip into the ``inputs`` / ``data_samples`` pair the models consume."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import torch
from mmaction.structures import ActionDataSample
from mmcv.transforms import BaseTransform

from surgvista_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackSurgVistaInputs(BaseTransform):
    """Stack ``imgs`` into a uint8 ``[3, T, H, W]`` tensor and build an ``ActionDataSample``.

    Unlike mmaction2's ``FormatShape('NCTHW')`` + ``PackActionInputs``, there is no num-clips
    dimension: one sample is one clip; normalisation happens later, on the device.

    Required keys: ``imgs`` (list of ``T`` uint8 ``[H, W, 3]`` arrays).
    Optional keys: ``mask`` (bool ``[N]``) -> data field ``mask`` (torch.bool ``[N]``);
    ``gt_label`` (int or array) -> ``gt_label`` (via ``set_gt_label``, int64);
    every key of ``meta_keys`` present in results -> metainfo (``video_id`` as str,
    ``frame_index`` as int).
    Output: ``dict(inputs=uint8 tensor [3, T, H, W], data_samples=ActionDataSample)``.

    Args:
        meta_keys: result keys copied into the data sample's metainfo when present.
    """

    def __init__(self, meta_keys: Sequence[str] = ('video_id', 'frame_index', 'sample_idx',
                                                   'source')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        """Pack ``results`` into ``inputs`` and ``data_samples``."""
        imgs = results.get('imgs')
        if not imgs:
            raise KeyError(f'{type(self).__name__}: results lack a non-empty "imgs" list '
                           f'(video {results.get("video_id")!r})')
        clip = np.stack(imgs, axis=0)  # [T, H, W, C]
        if clip.ndim != 4:
            raise ValueError(f'{type(self).__name__}: expected frames [H, W, C], got '
                             f'{imgs[0].shape} (video {results.get("video_id")!r})')
        inputs = torch.from_numpy(np.ascontiguousarray(clip.transpose(3, 0, 1, 2)))
        if inputs.dtype != torch.uint8:
            inputs = inputs.clamp(0, 255).to(torch.uint8)
        sample = ActionDataSample()
        if results.get('mask') is not None:
            mask = torch.as_tensor(np.asarray(results['mask'], dtype=bool))
            sample.set_field(mask, 'mask', dtype=torch.Tensor)
        if results.get('gt_label') is not None:
            sample.set_gt_label(results['gt_label'])
        meta = {}
        for key in self.meta_keys:
            if key in results:
                meta[key] = results[key]
        if 'video_id' in meta:
            meta['video_id'] = str(meta['video_id'])
        for key in ('frame_index', 'sample_idx'):
            if key in meta:
                meta[key] = int(meta[key])
        sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
