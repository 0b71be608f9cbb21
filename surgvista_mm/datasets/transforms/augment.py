"""Video-consistent fine-tuning augmentations (spec §7) and the recognizer's packing step.

Every random transform here draws **once per clip** and applies the same operation to every
frame: the same RandAugment ops and magnitudes, the same crop box, the same flip, the same erased
box. Randomness comes from ``results['rng']`` (the per-sample ``numpy.random.Generator`` of the
surgvista_mm datasets, seeded from ``(seed, epoch, sample_idx)``), so a sample of an epoch gets
the same augmentation whatever the worker, rank or resume point; without that key a fresh
unseeded generator is used, so the transforms also work in ordinary mmaction2 pipelines.

Frames are a list of ``T`` uint8 ``[H, W, 3]`` RGB arrays (``SurgicalFrameLoader``'s output);
every transform returns new arrays and never writes into its input.

The fine-tuning train pipeline of spec §7 is::

    SurgicalFrameLoader -> VideoRandAugment -> VideoRandomResizedCrop -> VideoFlip
        -> VideoRandomErasing -> PackSurgVistaClipInputs

(mixup / cutmix run later, on the batch, in the data preprocessor).
"""
from __future__ import annotations

import contextlib
import math
import random
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from surgvista_mm.registry import TRANSFORMS
from .crop import crop_resize_frames, output_size
from .formatting import PackSurgVistaInputs

IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)
IMAGENET_STD_255 = (58.395, 57.12, 57.375)
_PIL_INTERPOLATION = {'nearest': Image.NEAREST, 'bilinear': Image.BILINEAR,
                      'bicubic': Image.BICUBIC}


# --------------------------------------------------------------------------------- helpers
def clip_rng(results: Dict) -> np.random.Generator:
    """The sample's generator ``results['rng']``, or a fresh unseeded one when absent."""
    rng = results.get('rng')
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f'results["rng"] must be a numpy.random.Generator, got {type(rng)}')
    return rng


def clip_frames(results: Dict, name: str) -> Tuple[List[np.ndarray], int, int]:
    """``results['imgs']`` checked to be a non-empty list of same-shape ``[H, W, 3]`` frames.

    Returns:
        ``(frames, height, width)``.
    """
    imgs = results.get('imgs')
    video = results.get('video_id')
    if imgs is None or len(imgs) == 0:
        raise KeyError(f'{name}: results lack a non-empty "imgs" list (video {video!r})')
    shape = imgs[0].shape
    if len(shape) != 3 or shape[2] != 3:
        raise ValueError(f'{name}: frames must be [H, W, 3], got {shape} (video {video!r})')
    for img in imgs:
        if img.shape != shape:
            raise ValueError(f'{name}: frames of different shapes {img.shape} and {shape} '
                             f'(video {video!r})')
    return list(imgs), int(shape[0]), int(shape[1])


def _check_range(value: Sequence[float], name: str, low: float = 0.0,
                 high: float = math.inf) -> Tuple[float, float]:
    if len(value) != 2 or not low <= value[0] <= value[1] <= high or value[0] <= 0:
        raise ValueError(f'{name} must be (min, max) with 0 < min <= max'
                         f'{" <= " + str(high) if high != math.inf else ""}, got {value!r}')
    return float(value[0]), float(value[1])


@contextlib.contextmanager
def _python_random_seeded(seed: int) -> Iterator[None]:
    """Seed Python's global ``random`` inside the block and restore its state afterwards.

    timm's RandAugment ops draw their sign (and a few ops their blur radius) from the global
    ``random`` module; seeding it from the clip's generator makes those draws reproducible and
    identical for every frame, without leaving any trace on the global state.
    """
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


# ----------------------------------------------------------------------------- RandAugment
_POSTERIZE_BITS = (1, 8)  # what PIL's ImageOps.posterize accepts


def _valid_op_args(name: str, args: tuple) -> tuple:
    """``args`` of a timm op, mapped into the range its image function accepts.

    timm's posterize levels keep ``int(M / 10 * 4)`` bits (``Posterize``: 0-4, fewer with lower
    magnitude), ``4 - that`` (``PosterizeIncreasing``) or ``4 + that`` (``PosterizeOriginal``),
    following the TensorFlow policies, where keeping 0 bits was possible. PIL keeps 1 to 8 bits
    and raises on 0 (``Posterize`` below magnitude 2.5, e.g. ``rand-m3-n2-mstd0.5`` or
    ``rand-m2-n2``; ``PosterizeIncreasing`` at magnitude 10), so the bits are clamped to
    ``[1, 8]``: the strongest valid posterize.
    """
    if name.startswith('Posterize') and args:
        low, high = _POSTERIZE_BITS
        return (min(high, max(low, int(args[0]))),) + tuple(args[1:])
    return args


@TRANSFORMS.register_module()
class VideoRandAugment(BaseTransform):
    """timm's RandAugment with one draw per clip: the same ops, magnitudes and signs per frame.

    The ops, their application probability, magnitude noise and level-to-argument rules are
    timm's (``timm.data.auto_augment.rand_augment_transform``, config grammar
    ``rand-m{M}-n{N}-mstd{S}[-p{P}][-inc1][-t{set}]``). timm draws the ops per image from
    ``np.random`` and the rest from ``random``; here the op choice, the apply/skip decision and
    the magnitude of each op are drawn once from the clip's generator, the op's arguments are
    computed once (its random sign from a seed drawn from the same generator), and the op is
    applied to every frame (any randomness inside an op is re-seeded identically per frame).

    Required keys: ``imgs`` (list of uint8 ``[H, W, 3]`` RGB). Optional keys: ``rng``.
    Modified keys: ``imgs``. Added keys: ``rand_augment`` (list of ``(op name, magnitude)``
    actually applied, in order).

    Args:
        config_str: timm RandAugment config (SurgVISTA: ``'rand-m7-n4-mstd0.5'``).
        interpolation: resampling of the geometric ops, ``'bicubic'``, ``'bilinear'`` or
            ``'nearest'``.
        fill: RGB fill colour of the area uncovered by geometric ops (timm uses the dataset
            mean in 0-255; default: ImageNet mean rounded).
        translate_const: pixel range of the absolute-translate ops (timm: 0.45 x image size;
            unused by the default op set, which translates relatively).
    """

    def __init__(self, config_str: str = 'rand-m7-n4-mstd0.5', interpolation: str = 'bicubic',
                 fill: Sequence[int] = (124, 116, 104), translate_const: int = 100) -> None:
        from timm.data import auto_augment
        if interpolation not in _PIL_INTERPOLATION:
            raise ValueError(f'interpolation must be one of {sorted(_PIL_INTERPOLATION)}, got '
                             f'{interpolation!r}')
        if len(fill) != 3 or not all(0 <= int(v) <= 255 for v in fill):
            raise ValueError(f'fill must be 3 values in [0, 255], got {fill!r}')
        if not config_str.startswith('rand'):
            raise ValueError(f"config_str must start with 'rand', got {config_str!r}")
        hparams = dict(translate_const=int(translate_const), img_mean=tuple(int(v) for v in fill),
                       interpolation=_PIL_INTERPOLATION[interpolation])
        try:
            policy = auto_augment.rand_augment_transform(config_str, hparams)
        except AssertionError as e:  # timm asserts on unknown sections
            raise ValueError(f'invalid RandAugment config {config_str!r}') from e
        for op in policy.ops:
            missing = [a for a in ('aug_fn', 'level_fn', 'prob', 'magnitude', 'magnitude_std',
                                   'magnitude_max', 'hparams', 'kwargs') if not hasattr(op, a)]
            if missing:
                raise RuntimeError(f'timm AugmentOp lacks {missing}: this timm version is not '
                                   'supported by VideoRandAugment')
        self.config_str = config_str
        self.interpolation = interpolation
        self.fill = tuple(int(v) for v in fill)
        self.translate_const = int(translate_const)
        self.ops = list(policy.ops)
        self.num_layers = int(policy.num_layers)
        self.choice_weights = policy.choice_weights
        self.max_level = float(getattr(auto_augment, '_LEVEL_DENOM', 10.0))

    def sample_plan(self, rng: np.random.Generator) -> List[Tuple[object, float, tuple, int]]:
        """Draw the clip's ops: ``[(timm AugmentOp, magnitude, level args, op seed), ...]``.

        Skipped ops (probability ``p``) are left out of the plan.
        """
        chosen = rng.choice(len(self.ops), self.num_layers, replace=self.choice_weights is None,
                            p=self.choice_weights)
        plan = []
        for index in chosen:
            op = self.ops[int(index)]
            apply = op.prob >= 1.0 or rng.random() <= op.prob
            magnitude = float(op.magnitude)
            if op.magnitude_std == math.inf:
                magnitude = float(rng.uniform(0.0, magnitude))
            elif op.magnitude_std > 0:
                magnitude = float(rng.normal(magnitude, op.magnitude_std))
            magnitude = max(0.0, min(magnitude, float(op.magnitude_max or self.max_level)))
            seed = int(rng.integers(2**32))
            if not apply:
                continue
            with _python_random_seeded(seed):
                args = tuple(op.level_fn(magnitude, op.hparams)) if op.level_fn else ()
            args = _valid_op_args(op.name, args)
            plan.append((op, magnitude, args, seed))
        return plan

    def transform(self, results: Dict) -> Dict:
        """Apply the clip's ops to every frame."""
        frames, _, _ = clip_frames(results, type(self).__name__)
        plan = self.sample_plan(clip_rng(results))
        out = []
        for frame in frames:
            if frame.dtype != np.uint8:
                raise TypeError(f'{type(self).__name__} needs uint8 frames, got {frame.dtype} '
                                f'(video {results.get("video_id")!r})')
            img = Image.fromarray(frame) if plan else None
            for op, _, args, seed in plan:
                with _python_random_seeded(seed):
                    img = op.aug_fn(img, *args, **op.kwargs)
            out.append(np.asarray(img.convert('RGB'), dtype=np.uint8).copy() if plan
                       else frame.copy())
        results['imgs'] = out
        results['rand_augment'] = [(op.name, magnitude) for op, magnitude, _, _ in plan]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(config_str={self.config_str!r}, '
                f'interpolation={self.interpolation!r}, fill={self.fill}, '
                f'translate_const={self.translate_const})')


# ------------------------------------------------------------------------- crop and flip
@TRANSFORMS.register_module()
class VideoRandomResizedCrop(BaseTransform):
    """Random-resized crop with one box per clip, resized to ``size``.

    The usual rule (Inception / torchvision / mmaction2 ``RandomResizedCrop``): up to
    ``max_attempts`` times draw an area fraction uniformly in ``scale`` and a log-uniform aspect
    ratio (w / h) in ``ratio``; the first box that fits is placed uniformly. If none fits, the
    largest centred box whose aspect ratio is clamped to ``ratio`` is used. Unlike mmaction2's
    transform (global ``np.random``, crop only), it draws from ``results['rng']`` and resizes.

    Required keys: ``imgs``. Optional keys: ``rng``.
    Modified keys: ``imgs`` (``[out_h, out_w, 3]``), ``img_shape``. Added keys: ``crop_bbox``
    (int64 ``[x1, y1, x2, y2]`` in input pixels).

    Args:
        size: output size, an int or ``(w, h)`` (SurgVISTA: 224).
        scale: range of the crop area as a fraction of the frame (SurgVISTA: (0.7, 1.0)).
        ratio: range of the crop aspect ratio w / h (SurgVISTA: (3/4, 4/3)).
        interpolation: mmcv resize interpolation ('bilinear', 'bicubic', 'area', ...).
        max_attempts: boxes tried before the centred fallback.
    """

    def __init__(self, size: Union[int, Sequence[int]] = 224,
                 scale: Sequence[float] = (0.7, 1.0),
                 ratio: Sequence[float] = (3 / 4, 4 / 3), interpolation: str = 'bilinear',
                 max_attempts: int = 10) -> None:
        self.size: Tuple[int, int] = output_size(size, 'size')
        if max_attempts < 1:
            raise ValueError(f'max_attempts must be >= 1, got {max_attempts}')
        self.scale = _check_range(scale, 'scale', high=1.0)
        self.ratio = _check_range(ratio, 'ratio')
        self.interpolation = interpolation
        self.max_attempts = int(max_attempts)

    def sample_box(self, rng: np.random.Generator, img_h: int, img_w: int
                   ) -> Tuple[int, int, int, int]:
        """Draw the crop box ``(x, y, w, h)`` of an ``img_h x img_w`` frame."""
        area = img_h * img_w
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(self.max_attempts):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= img_w and 0 < h <= img_h:
                x = int(rng.integers(0, img_w - w + 1))
                y = int(rng.integers(0, img_h - h + 1))
                return x, y, w, h
        in_ratio = img_w / img_h
        if in_ratio < self.ratio[0]:
            w, h = img_w, int(round(img_w / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            w, h = int(round(img_h * self.ratio[1])), img_h
        else:
            w, h = img_w, img_h
        return (img_w - w) // 2, (img_h - h) // 2, w, h

    def transform(self, results: Dict) -> Dict:
        """Crop every frame with the clip's box and resize."""
        frames, img_h, img_w = clip_frames(results, type(self).__name__)
        box = self.sample_box(clip_rng(results), img_h, img_w)
        return crop_resize_frames(results, frames, box, self.size, self.interpolation)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, scale={self.scale}, '
                f'ratio={self.ratio}, interpolation={self.interpolation!r}, '
                f'max_attempts={self.max_attempts})')


@TRANSFORMS.register_module()
class VideoFlip(BaseTransform):
    """Flip every frame of a clip, or none, with probability ``flip_ratio`` (one draw per clip).

    Required keys: ``imgs``. Optional keys: ``rng``.
    Modified keys: ``imgs``. Added keys: ``flip`` (bool), ``flip_direction``.

    Args:
        flip_ratio: probability of flipping (SurgVISTA: 0.5).
        direction: ``'horizontal'`` or ``'vertical'``.
    """

    def __init__(self, flip_ratio: float = 0.5, direction: str = 'horizontal') -> None:
        if not 0.0 <= flip_ratio <= 1.0:
            raise ValueError(f'flip_ratio must be in [0, 1], got {flip_ratio}')
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
        self.flip_ratio = float(flip_ratio)
        self.direction = direction

    def transform(self, results: Dict) -> Dict:
        """Flip the clip (or not)."""
        frames, _, _ = clip_frames(results, type(self).__name__)
        flip = bool(clip_rng(results).random() < self.flip_ratio)
        if flip:
            axis = 1 if self.direction == 'horizontal' else 0
            results['imgs'] = [np.ascontiguousarray(np.flip(f, axis=axis)) for f in frames]
        results['flip'] = flip
        results['flip_direction'] = self.direction
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(flip_ratio={self.flip_ratio}, '
                f'direction={self.direction!r})')


# -------------------------------------------------------------------------- random erasing
@TRANSFORMS.register_module()
class VideoRandomErasing(BaseTransform):
    """Random erasing (Zhong et al.) with one box, and one fill, for all frames of a clip.

    With probability ``p``: up to ``max_attempts`` times draw an area fraction uniformly in
    ``area_range`` and a log-uniform aspect ratio (h / w) in ``aspect_range``; the first box
    strictly inside the frame is placed uniformly and filled on every frame. It runs on the
    uint8 frames before packing (after the crop and flip): ``mode='pixel'`` fills with
    per-pixel noise that is standard normal *after* the model's normalisation, i.e.
    ``mean + std * N(0, 1)`` in 0-255, rounded and clipped to [0, 255] (clipping cuts the
    normal tails beyond about ±2.1 std); ``'rand'`` uses one such colour per box; ``'const'``
    fills with ``mean`` (0 after normalisation). The same noise is used on every frame.

    Required keys: ``imgs``. Optional keys: ``rng``.
    Modified keys: ``imgs``. Added keys: ``erase_bbox`` (int64 ``[x1, y1, x2, y2]``, or None
    when nothing was erased).

    Args:
        p: probability of erasing a clip (SurgVISTA: 0.25).
        area_range: range of the erased area as a fraction of the frame.
        aspect_range: range of the box aspect ratio h / w (None: ``(0.3, 1 / 0.3)``).
        mode: ``'pixel'``, ``'rand'`` or ``'const'``.
        mean: channel means of the model's normalisation (0-255, RGB).
        std: channel standard deviations of the model's normalisation (0-255, RGB).
        max_attempts: boxes tried before giving up (the clip is then left unchanged).
    """

    def __init__(self, p: float = 0.25, area_range: Sequence[float] = (0.02, 1 / 3),
                 aspect_range: Optional[Sequence[float]] = None, mode: str = 'pixel',
                 mean: Sequence[float] = IMAGENET_MEAN_255,
                 std: Sequence[float] = IMAGENET_STD_255, max_attempts: int = 10) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f'p must be in [0, 1], got {p}')
        if mode not in ('pixel', 'rand', 'const'):
            raise ValueError(f"mode must be 'pixel', 'rand' or 'const', got {mode!r}")
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'mean and std need 3 values each, got {mean!r} and {std!r}')
        if max_attempts < 1:
            raise ValueError(f'max_attempts must be >= 1, got {max_attempts}')
        self.p = float(p)
        self.area_range = _check_range(area_range, 'area_range', high=1.0)
        self.aspect_range = _check_range(aspect_range if aspect_range is not None
                                         else (0.3, 1 / 0.3), 'aspect_range')
        self.mode = mode
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.max_attempts = int(max_attempts)

    def sample_box(self, rng: np.random.Generator, img_h: int, img_w: int
                   ) -> Optional[Tuple[int, int, int, int]]:
        """Draw the erased box ``(x, y, w, h)``, or None when no attempt fits."""
        area = img_h * img_w
        log_aspect = (math.log(self.aspect_range[0]), math.log(self.aspect_range[1]))
        for _ in range(self.max_attempts):
            target = area * rng.uniform(*self.area_range)
            aspect = math.exp(rng.uniform(*log_aspect))
            h = int(round(math.sqrt(target * aspect)))
            w = int(round(math.sqrt(target / aspect)))
            if 0 < w < img_w and 0 < h < img_h:
                y = int(rng.integers(0, img_h - h + 1))
                x = int(rng.integers(0, img_w - w + 1))
                return x, y, w, h
        return None

    def _fill(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        if self.mode == 'pixel':
            z = rng.standard_normal((h, w, 3))
        elif self.mode == 'rand':
            z = rng.standard_normal((1, 1, 3))
        else:
            z = np.zeros((1, 1, 3))
        values = np.clip(np.rint(self.mean + self.std * z), 0, 255).astype(np.uint8)
        return np.broadcast_to(values, (h, w, 3))

    def transform(self, results: Dict) -> Dict:
        """Erase the same box of every frame (or nothing)."""
        frames, img_h, img_w = clip_frames(results, type(self).__name__)
        rng = clip_rng(results)
        box = self.sample_box(rng, img_h, img_w) if rng.random() < self.p else None
        if box is None:
            results['erase_bbox'] = None
            return results
        x, y, w, h = box
        patch = self._fill(rng, h, w)
        new = []
        for frame in frames:
            frame = frame.copy()
            frame[y:y + h, x:x + w] = patch
            new.append(frame)
        results['imgs'] = new
        results['erase_bbox'] = np.array([x, y, x + w, y + h], dtype=np.int64)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(p={self.p}, area_range={self.area_range}, '
                f'aspect_range={self.aspect_range}, mode={self.mode!r}, '
                f'mean={tuple(self.mean.tolist())}, std={tuple(self.std.tolist())}, '
                f'max_attempts={self.max_attempts})')


# ---------------------------------------------------------------------------------- packing
@TRANSFORMS.register_module()
class PackSurgVistaClipInputs(PackSurgVistaInputs):
    """``PackSurgVistaInputs`` with a leading clip axis: ``inputs`` uint8 ``[1, 3, T, H, W]``.

    mmaction2's ``Recognizer3D`` reads ``inputs`` as ``[B, num_clips, C, T, H, W]`` (the layout
    of ``FormatShape('NCTHW')``); the online protocol has one clip per sample, so
    ``num_clips = 1``. Everything else (``gt_label``, metainfo ``video_id`` / ``frame_index``
    for the surgical metrics) is ``PackSurgVistaInputs``'.

    Args:
        meta_keys: result keys copied into the data sample's metainfo when present.
    """

    def transform(self, results: Dict) -> Dict:
        """Pack, then add the clip axis."""
        packed = super().transform(results)
        packed['inputs'] = packed['inputs'].unsqueeze(0)
        return packed
