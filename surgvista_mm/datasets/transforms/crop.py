"""TSN-style multi-scale crop with randomness drawn from the sample's own generator (spec §5),
and the crop-and-resize helpers that the fine-tuning crop (``augment.py``) shares."""
from __future__ import annotations

import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from surgvista_mm.registry import TRANSFORMS
from ..media import MissingMediaError, UndecodableMediaError


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


@TRANSFORMS.register_module()
class SurgicalFrameCropLoader(BaseTransform):
    """``SurgicalFrameLoader`` + ``TSNMultiScaleCrop`` in one step, decoding only the crop.

    The crop box depends only on the frame size and the sample's generator, so it is drawn from
    the first JPEG's header (the same draws, in the same order, as ``TSNMultiScaleCrop``) before
    any frame is decoded; then each frame's box (plus a margin of one iMCU column on each side,
    see ``jpeg.TurboJpeg.decode``) is decoded with libjpeg-turbo and resized once, straight to
    ``input_size``. Frames stay uint8. On JPEGs with restart markers (``extract_frames.py``'s
    default) only the restart segments around the box are decoded (``jpeg_restart``: no Huffman
    decoding above the box either). With the default ``decoder='auto'`` and ``dct_scale=False``
    the output equals ``SurgicalFrameLoader`` followed by ``TSNMultiScaleCrop`` exactly (checked
    in ``tests/test_perf_jpeg.py``): libjpeg-turbo's region decode gives a full decode's pixels.

    Video files (``filename``), non-JPEG frames, and ``decoder='cv2'`` or a missing libturbojpeg
    go through ``SurgicalFrameLoader`` (full decode) and the same crop.

    Required keys: those of ``SurgicalFrameLoader``; optional ``rng``.
    Added keys: ``imgs`` (list of ``T`` uint8 ``[out_h, out_w, 3]`` RGB), ``original_shape``
    (``(H, W)`` of the frames), ``img_shape`` (``(out_h, out_w)``), ``crop_bbox`` (int64
    ``[x1, y1, x2, y2]`` in frame pixels).

    Args:
        input_size, scales, max_wh_scale_gap, num_fixed_crops, snap_px, interpolation: as
            ``TSNMultiScaleCrop``.
        decoder: 'auto' (region decode when libturbojpeg is available, else full decode),
            'turbo' (region decode, error without the library), 'cv2' (full decode with OpenCV:
            the reference path), or 'torch' (``torchvision.io.decode_jpeg`` on
            ``decode_device``, e.g. 'cuda' for nvJPEG, then crop and bilinear resize with torch
            and back to host uint8 frames; within 1 level of the reference on CPU).
        dct_scale: also decode at the smallest DCT scale ``M/8`` whose crop still covers
            ``input_size`` (faster, **changes pixels**: the box is rescaled to the scaled
            image, rounded to whole pixels; difference stated in docs/benchmarks.md). Off by
            default.
        decode_device: device of ``decoder='torch'`` ('cpu', 'cuda', ...).
        backend_args, num_threads: as ``SurgicalFrameLoader``.
    """

    def __init__(self, input_size: Union[int, Sequence[int]] = 224,
                 scales: Sequence[float] = (1.0, 0.875, 0.75, 0.66),
                 max_wh_scale_gap: int = 1, num_fixed_crops: int = 13, snap_px: int = 3,
                 interpolation: str = 'bilinear', decoder: str = 'auto',
                 dct_scale: bool = False, decode_device: str = 'cpu',
                 backend_args: Optional[dict] = None, num_threads: int = 1) -> None:
        from .jpeg import default_turbojpeg
        from .loading import SurgicalFrameLoader
        if decoder not in ('auto', 'turbo', 'cv2', 'torch'):
            raise ValueError(f"decoder must be 'auto', 'turbo', 'cv2' or 'torch', got {decoder!r}")
        self.crop = TSNMultiScaleCrop(input_size, scales, max_wh_scale_gap, num_fixed_crops,
                                      snap_px, interpolation)
        self.loader = SurgicalFrameLoader(backend_args=backend_args, num_threads=num_threads)
        self.decoder = decoder
        self.dct_scale = bool(dct_scale)
        self.decode_device = decode_device
        self.turbo = None
        if decoder in ('auto', 'turbo'):
            self.turbo = default_turbojpeg()
            if self.turbo is None and decoder == 'turbo':
                raise OSError("decoder='turbo' needs libturbojpeg 3: pip install turbojpeg")
        if self.dct_scale and self.turbo is None:
            raise ValueError("dct_scale=True needs the libturbojpeg decoder ('auto' or 'turbo')")

    def _draw_box(self, results: Dict, img_h: int, img_w: int) -> Tuple[int, int, int, int]:
        rng = results.get('rng')
        if rng is None:
            rng = np.random.default_rng()
        sizes = self.crop.candidate_sizes(img_h, img_w)
        crop_w, crop_h = sizes[int(rng.integers(len(sizes)))]
        offsets = self.crop.candidate_offsets(img_h, img_w, crop_w, crop_h)
        x, y = offsets[int(rng.integers(len(offsets)))]
        return x, y, crop_w, crop_h

    def _read(self, results: Dict, inds: np.ndarray) -> List[bytes]:
        from mmengine import fileio
        tmpl = results.get('filename_tmpl') or '{:06d}.jpg'
        offset = int(results.get('offset') or 0)
        out = []
        for k in inds.tolist():
            path = fileio.join_path(results['frame_dir'], tmpl.format(k + offset))
            try:
                out.append(fileio.get(path, backend_args=self.loader.backend_args))
            except FileNotFoundError as e:
                raise MissingMediaError(f'frame {k} of video {results["video_id"]!r} not '
                                        f'found: {path}', path, results['video_id'], k) from e
        return out

    @staticmethod
    def _frame_path(results: Dict, k: int) -> str:
        tmpl = results.get('filename_tmpl') or '{:06d}.jpg'
        return osp.join(results['frame_dir'], tmpl.format(k + int(results.get('offset') or 0)))

    def transform(self, results: Dict) -> Dict:
        """Load, crop and resize the frames ``results['frame_inds']``."""
        from .jpeg import is_jpeg
        if self.decoder == 'cv2' or not results.get('frame_dir') or (
                self.turbo is None and self.decoder != 'torch'):
            results = self.loader.transform(results)
            return self.crop.transform(results)
        for key in ('frame_inds', 'video_id'):
            if key not in results:
                raise KeyError(f'{type(self).__name__}: results lack the required key {key!r}')
        vid = results['video_id']
        inds = np.asarray(results['frame_inds'], dtype=np.int64).reshape(-1)
        if inds.size == 0 or inds.min() < 0:
            raise ValueError(f'video {vid!r}: frame_inds must be non-empty and non-negative, '
                             f'got {inds.tolist()}')
        unique, inverse = np.unique(inds, return_inverse=True)
        datas = self._read(results, unique)
        if not all(is_jpeg(d) for d in datas):  # PNG frames etc.: the general path
            results = self.loader.transform(results)
            return self.crop.transform(results)
        if self.decoder == 'torch':
            frames, shape, box = self._decode_torch(results, datas, unique)
        else:
            frames, shape, box = self._decode_turbo(results, datas, unique)
        results['imgs'] = [frames[i] for i in inverse.reshape(-1)]
        results['original_shape'] = shape
        results['img_shape'] = (self.crop.input_size[1], self.crop.input_size[0])
        x, y, w, h = box
        results['crop_bbox'] = np.array([x, y, x + w, y + h], dtype=np.int64)
        return results

    def _decode_turbo(self, results: Dict, datas: List[bytes], inds: np.ndarray):
        from .jpeg import JpegSizeError
        vid = results['video_id']
        try:
            hdr = self.turbo.header(datas[0])
        except ValueError as e:
            path = self._frame_path(results, int(inds[0]))
            raise UndecodableMediaError(f'frame {int(inds[0])} of video {vid!r} cannot be '
                                        f'decoded: {path} ({e})', path, vid, int(inds[0])) from e
        img_h, img_w = hdr.height, hdr.width
        x, y, w, h = self._draw_box(results, img_h, img_w)
        out_w, out_h = self.crop.input_size
        m = 8
        dbox = (x, y, w, h)
        if self.dct_scale:
            from .jpeg import dct_scale_for
            m = dct_scale_for(w, h, out_w, out_h)
            sw, sh = (img_w * m + 7) // 8, (img_h * m + 7) // 8
            dx, dy = x * m // 8, y * m // 8
            dbox = (dx, dy, min(max(1, round(w * m / 8)), sw - dx),
                    min(max(1, round(h * m / 8)), sh - dy))
        frames = []
        for k, data in zip(inds.tolist(), datas):
            try:
                crop = self.turbo.decode(data, dbox, m, reuse_buffer=True,
                                         expect_size=(img_w, img_h))
            except ValueError as e:
                if isinstance(e, JpegSizeError):
                    e = ValueError(f"{e}, frame {int(inds[0])}'s size")
                path = self._frame_path(results, k)
                raise UndecodableMediaError(f'frame {k} of video {vid!r} cannot be decoded: '
                                            f'{path} ({e})', path, vid, k) from e
            if crop.shape[:2] != (out_h, out_w):
                frames.append(mmcv.imresize(crop, (out_w, out_h),
                                            interpolation=self.crop.interpolation))
            else:
                frames.append(np.array(crop, order='C'))  # a copy: the buffer is reused
        return frames, (img_h, img_w), (x, y, w, h)

    def _decode_torch(self, results: Dict, datas: List[bytes], inds: np.ndarray):
        import torch
        import torch.nn.functional as F

        from .jpeg import decode_jpeg_torch
        if self.crop.interpolation != 'bilinear':
            raise ValueError("decoder='torch' resizes bilinearly only")
        for k, data in zip(inds.tolist(), datas):  # torchvision / nvJPEG pad a truncated file
            if b'\xff\xd9' not in data[-64:]:
                path = self._frame_path(results, k)
                raise UndecodableMediaError(f'frame {k} of video {results["video_id"]!r} cannot '
                                            f'be decoded: {path} (truncated JPEG: no '
                                            'end-of-image marker)', path, results['video_id'], k)
        try:
            imgs = decode_jpeg_torch(datas, self.decode_device)
        except RuntimeError as e:
            raise UndecodableMediaError(f'video {results["video_id"]!r}: a frame of '
                                        f'{inds.tolist()} cannot be decoded: '
                                        f'{results["frame_dir"]} ({e})', results['frame_dir'],
                                        results['video_id'], int(inds[0])) from e
        shapes = {tuple(i.shape[1:]) for i in imgs}
        if len(shapes) != 1:
            raise ValueError(f'video {results["video_id"]!r}: frames of different shapes '
                             f'{sorted(shapes)}')
        img_h, img_w = shapes.pop()
        x, y, w, h = self._draw_box(results, img_h, img_w)
        out_w, out_h = self.crop.input_size
        clip = torch.stack(imgs)[:, :, y:y + h, x:x + w]
        if (w, h) != (out_w, out_h):
            clip = F.interpolate(clip.float(), size=(out_h, out_w), mode='bilinear',
                                 align_corners=False).round_().clamp_(0, 255).to(torch.uint8)
        clip = clip.permute(0, 2, 3, 1).cpu().numpy()
        return [np.ascontiguousarray(f) for f in clip], (img_h, img_w), (x, y, w, h)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop={self.crop!r}, decoder={self.decoder!r}, '
                f'dct_scale={self.dct_scale}, decode_device={self.decode_device!r})')
