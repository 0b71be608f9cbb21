"""Tube masking as a data transform (spec §2); the logic lives in ``models.utils.masking``."""
from __future__ import annotations

from typing import Dict, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from surgvista_mm.models.utils.masking import num_masked_per_slice, tube_mask_numpy
from surgvista_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class TubeMasking(BaseTransform):
    """Draw one tube mask per clip from the sample's generator.

    The token grid is ``(T / tubelet_size, H / patch_size, W / patch_size)``; exactly
    ``int(mask_ratio * H' * W')`` spatial positions are masked, the same in every time slice
    (166 masked / 30 visible per slice for 224 px, patch 16, ratio 0.85; 1328 / 240 per clip).

    Required keys: none (``imgs``, when present, is checked against ``input_size``).
    Optional keys: ``rng`` (``numpy.random.Generator``; a fresh unseeded one when absent).
    Added keys: ``mask`` (bool ``[T' * H' * W']``, True = masked, t-major then h then w).

    Args:
        input_size: clip size ``(T, H, W)`` in frames and pixels.
        patch_size: spatial patch side in pixels.
        tubelet_size: frames per tubelet.
        mask_ratio: fraction of spatial positions masked, in [0, 1).
    """

    def __init__(self, input_size: Sequence[int] = (16, 224, 224),
                 patch_size: Union[int, Sequence[int]] = 16, tubelet_size: int = 2,
                 mask_ratio: float = 0.85) -> None:
        if len(input_size) != 3:
            raise ValueError(f'input_size must be (T, H, W), got {input_size!r}')
        ph, pw = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
        t, h, w = (int(v) for v in input_size)
        if t % tubelet_size or h % ph or w % pw:
            raise ValueError(f'input_size {tuple(input_size)} is not divisible by the tubelet '
                             f'{(tubelet_size, ph, pw)}')
        num_masked_per_slice((h // ph) * (w // pw), mask_ratio)  # validates mask_ratio
        self.input_size = (t, h, w)
        self.patch_size = (ph, pw)
        self.tubelet_size = int(tubelet_size)
        self.mask_ratio = float(mask_ratio)
        self.grid: Tuple[int, int, int] = (t // tubelet_size, h // ph, w // pw)

    def transform(self, results: Dict) -> Dict:
        """Add ``results['mask']``."""
        imgs = results.get('imgs')
        if imgs is not None:
            t, h, w = self.input_size
            size = tuple(imgs[0].shape[:2]) if len(imgs) else None
            if len(imgs) != t or size != (h, w):
                raise ValueError(f'{type(self).__name__}: clip of video '
                                 f'{results.get("video_id")!r} has {len(imgs)} frames of '
                                 f'{size}, expected {t} of {(h, w)} (input_size)')
        rng = results.get('rng')
        if rng is None:
            rng = np.random.default_rng()
        results['mask'] = tube_mask_numpy(self.grid, self.mask_ratio, rng)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(input_size={self.input_size}, '
                f'patch_size={self.patch_size}, tubelet_size={self.tubelet_size}, '
                f'mask_ratio={self.mask_ratio})')
