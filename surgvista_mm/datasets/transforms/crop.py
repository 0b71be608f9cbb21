"""TSN-style multi-scale crop with randomness drawn from the sample's own generator (spec §5),
and the crop-and-resize helpers that the fine-tuning crop (``augment.py``) shares."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from surgvista_mm.registry import TRANSFORMS


def output_size(size: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    """``size`` (an int or ``(w, h)``) as a ``(w, h)`` pair of positive ints.

    Raises:
        ValueError: naming the argument ``name`` when ``size`` is neither.
    """
    out = (size, size) if isinstance(size, int) else tuple(size)
    if len(out) != 2 or not all(isinstance(s, int) and s > 0 for s in out):
        raise ValueError(f'{name} must be a positive int or (w, h), got {size!r}')
    return out


def crop_resize_frames(results: Dict, frames: Sequence[np.ndarray],
                       box: Tuple[int, int, int, int], size: Tuple[int, int],
                       interpolation: str) -> Dict:
    """Crop every frame to ``box`` and resize the crops to ``size``, into ``results``.

    Args:
        results: the transform's results; ``imgs``, ``img_shape`` and ``crop_bbox`` are set.
        frames: the clip's ``[H, W, C]`` frames (not modified).
        box: ``(x, y, w, h)`` of the crop in input pixels.
        size: output ``(w, h)``; crops of that size already are not resized.
        interpolation: mmcv resize interpolation ('bilinear', 'bicubic', 'area', ...).

    Returns:
        ``results``, with ``imgs`` the new contiguous ``[out_h, out_w, C]`` frames,
        ``img_shape`` ``(out_h, out_w)`` and ``crop_bbox`` int64 ``[x1, y1, x2, y2]``.
    """
    x, y, w, h = box
    out_w, out_h = size
    new = []
    for frame in frames:
        crop = frame[y:y + h, x:x + w]
        if (w, h) != (out_w, out_h):
            crop = mmcv.imresize(crop, (out_w, out_h), interpolation=interpolation)
        new.append(np.ascontiguousarray(crop))
    results['imgs'] = new
    results['img_shape'] = (out_h, out_w)
    results['crop_bbox'] = np.array([x, y, x + w, y + h], dtype=np.int64)
    return results


@TRANSFORMS.register_module()
class TSNMultiScaleCrop(BaseTransform):
    """One multi-scale crop per clip, the same box on every frame, resized to ``input_size``.

    Rule (TSN, as in SurgVISTA pre-training): with ``base = min(H, W)``, side lengths are
    ``int(base * s)`` for ``s`` in ``scales``; a crop ``(w, h)`` pairs two side lengths whose
    positions in ``scales`` differ by at most ``max_wh_scale_gap`` (the aspect-distortion limit);
    a side within ``snap_px`` pixels of the output side is set to it (TSN's rule; clamped to the
    image). The box's top-left corner is one of ``num_fixed_crops`` fixed offsets on a grid with
    steps ``((W - w) // 4, (H - h) // 4)``: the 4 corners and the centre (5), plus the 4 edge
    mid-points and the 4 quarter points (13). Crop size and offset are each drawn uniformly, in
    that order, from ``results['rng']`` (a ``numpy.random.Generator``; a fresh unseeded one when
    absent). The crop is then resized to ``input_size`` (bilinear by default).

    This is the rule of mmaction2's ``MultiScaleCrop(random_crop=False, num_fixed_crops=13,
    max_wh_scale_gap=1)`` (same candidate sizes and offsets, checked in
    ``tests/test_data_transforms.py``); that transform draws from Python's global ``random``
    and does not resize, hence this one.

    Required keys: ``imgs`` (list of ``[H, W, C]`` arrays, all the same shape).
    Optional keys: ``rng``.
    Added/modified keys: ``imgs`` (list of ``[out_h, out_w, C]``), ``img_shape``
    (``(out_h, out_w)``), ``crop_bbox`` (int64 ``[x1, y1, x2, y2]`` in input pixels).

    Args:
        input_size: output size, an int or ``(w, h)``.
        scales: relative side lengths.
        max_wh_scale_gap: maximum difference of the width and height scale positions.
        num_fixed_crops: 5 or 13 candidate offsets.
        snap_px: sides closer than this to the output side snap to it (0: off).
        interpolation: resize interpolation (mmcv name: 'bilinear', 'bicubic', 'area'...).
    """

    def __init__(self, input_size: Union[int, Sequence[int]] = 224,
                 scales: Sequence[float] = (1.0, 0.875, 0.75, 0.66),
                 max_wh_scale_gap: int = 1, num_fixed_crops: int = 13, snap_px: int = 3,
                 interpolation: str = 'bilinear') -> None:
        size = output_size(input_size, 'input_size')
        if num_fixed_crops not in (5, 13):
            raise ValueError(f'num_fixed_crops must be 5 or 13, got {num_fixed_crops}')
        if not scales or not all(0 < s <= 1 for s in scales):
            raise ValueError(f'scales must be a non-empty list of values in (0, 1], got {scales}')
        self.input_size: Tuple[int, int] = size  # (w, h)
        self.scales = tuple(float(s) for s in scales)
        self.max_wh_scale_gap = int(max_wh_scale_gap)
        self.num_fixed_crops = num_fixed_crops
        self.snap_px = int(snap_px)
        self.interpolation = interpolation

    def candidate_sizes(self, img_h: int, img_w: int) -> List[Tuple[int, int]]:
        """Candidate crop sizes ``(w, h)`` for an ``img_h x img_w`` image, in draw order."""
        sides = [int(min(img_h, img_w) * s) for s in self.scales]
        out = []
        for i, h in enumerate(sides):
            for j, w in enumerate(sides):
                if abs(i - j) <= self.max_wh_scale_gap:
                    if abs(w - self.input_size[0]) < self.snap_px:
                        w = self.input_size[0]
                    if abs(h - self.input_size[1]) < self.snap_px:
                        h = self.input_size[1]
                    out.append((max(1, min(w, img_w)), max(1, min(h, img_h))))
        return out

    def candidate_offsets(self, img_h: int, img_w: int, crop_w: int,
                          crop_h: int) -> List[Tuple[int, int]]:
        """Candidate top-left corners ``(x, y)`` of a ``crop_w x crop_h`` box, in draw order."""
        ws, hs = (img_w - crop_w) // 4, (img_h - crop_h) // 4
        grid = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2)]  # corners, centre
        if self.num_fixed_crops == 13:
            grid += [(0, 2), (4, 2), (2, 4), (2, 0),  # edge mid-points
                     (1, 1), (3, 1), (1, 3), (3, 3)]  # quarter points
        return [(gx * ws, gy * hs) for gx, gy in grid]

    def transform(self, results: Dict) -> Dict:
        """Crop and resize ``results['imgs']``."""
        imgs = results.get('imgs')
        if not imgs:
            raise KeyError(f'{type(self).__name__}: results lack a non-empty "imgs" list '
                           f'(video {results.get("video_id")!r})')
        rng = results.get('rng')
        if rng is None:
            rng = np.random.default_rng()
        img_h, img_w = imgs[0].shape[:2]
        sizes = self.candidate_sizes(img_h, img_w)
        crop_w, crop_h = sizes[int(rng.integers(len(sizes)))]
        offsets = self.candidate_offsets(img_h, img_w, crop_w, crop_h)
        x, y = offsets[int(rng.integers(len(offsets)))]
        for img in imgs:
            if img.shape[:2] != (img_h, img_w):
                raise ValueError(f'video {results.get("video_id")!r}: frames of different '
                                 f'shapes {img.shape[:2]} and {(img_h, img_w)}')
        return crop_resize_frames(results, imgs, (x, y, crop_w, crop_h), self.input_size,
                                  self.interpolation)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(input_size={self.input_size}, scales={self.scales}, '
                f'max_wh_scale_gap={self.max_wh_scale_gap}, '
                f'num_fixed_crops={self.num_fixed_crops}, snap_px={self.snap_px}, '
                f'interpolation={self.interpolation!r})')
