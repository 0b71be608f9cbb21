"""Action-triplet recognition: CholecT50 from its official release (dataset-formats.md §6) and
any triplet dataset in the generic format (docs/data.md, "Generic formats").

* ``CholecT50TripletDataset``: the official layout (``videos/VIDNN/NNNNNN.png``,
  ``labels/VIDNN.json``), the ``cholect50-challenge`` split by default; the class count and the
  split are arguments.
* ``SurgicalTripletDataset``: videos from a manifest, labels per video either in the generic CSV
  (``frame,triplets``; any number of classes) or CholecT50's JSON, splits by id lists.
"""
from __future__ import annotations

import functools
import os.path as osp
import re
from typing import Callable, List, Mapping, Optional, Sequence, Union

import numpy as np
from mmengine.logging import print_log

from surgvista_mm.registry import DATASETS
from surgvista_mm.utils.io import read_json
from .base_clip_dataset import BaseFrameClipDataset
from .manifest import join_data_root, load_manifest, read_id_list, select_entries

NUM_TRIPLETS = 100
#: ``cholect50-challenge`` split (CAMMA's official data loader); train = the other 40 videos.
CHALLENGE_SPLIT = dict(val=(5, 18, 36, 65, 74), test=(92, 96, 103, 110, 111))
#: the 50 videos (union of the five ``cholect50-crossval`` folds).
ALL_VIDEOS = (1, 2, 4, 5, 6, 8, 10, 12, 13, 14, 15, 18, 22, 23, 25, 26, 27, 29, 31, 32, 35, 36,
              40, 42, 43, 47, 48, 49, 50, 51, 52, 56, 57, 60, 62, 65, 66, 68, 70, 73, 74, 75, 78,
              79, 80, 92, 96, 103, 110, 111)
TRIPLET_LABEL_FORMATS = ('generic', 'cholect50')


def challenge_split(split: str, splits: Mapping[str, Sequence[int]] = CHALLENGE_SPLIT,
                    all_videos: Sequence[int] = ALL_VIDEOS) -> List[int]:
    """Video numbers of split ``split`` of ``splits`` (default: ``cholect50-challenge``).

    A split missing from ``splits`` named ``'train'`` is every video of ``all_videos`` that is in
    no other split.
    """
    if split in splits:
        return [int(v) for v in splits[split]]
    if split == 'train':
        held = {int(v) for name, vids in splits.items() for v in vids}
        return [int(v) for v in all_videos if int(v) not in held]
    raise ValueError(f"split must be one of {sorted(set(splits) | {'train'})}, got {split!r}")


def read_triplet_labels(path: str, num_frames: Optional[int] = None,
                        num_classes: int = NUM_TRIPLETS) -> np.ndarray:
    """Multi-hot triplet labels ``uint8 [num_frames, num_classes]`` from an official CholecT50
    ``VIDNN.json`` (or a file of the same shape with another class count).

    Each instance of ``annotations[frame]`` is 15 numbers whose first is the triplet id
    (-1: no action). ``num_frames`` defaults to the file's ``num_frames`` (else the largest
    annotated frame + 1); frames without an entry get all zeros.
    """
    data = read_json(path, 'triplet label file')
    ann = data.get('annotations')
    if not isinstance(ann, dict):
        raise ValueError(f'{path}: no "annotations" object')
    if num_frames is None:
        num_frames = int(data.get('num_frames') or (max(map(int, ann), default=-1) + 1))
    labels = np.zeros((num_frames, num_classes), dtype=np.uint8)
    for frame, instances in ann.items():
        k = int(frame)
        if k >= num_frames:
            continue
        for inst in instances:
            if not isinstance(inst, (list, tuple)) or len(inst) < 1:
                raise ValueError(f'{path}: frame {frame}: bad instance {inst!r}')
            tid = int(inst[0])
            if tid >= num_classes:
                raise ValueError(f'{path}: frame {frame}: triplet id {tid} >= {num_classes}')
            if tid >= 0:
                labels[k, tid] = 1
    return labels


def read_generic_triplet_csv(path: str, num_classes: int,
                             num_frames: Optional[int] = None) -> np.ndarray:
    """Multi-hot labels ``uint8 [n, num_classes]`` from a generic triplet CSV.

    Format: header ``frame,triplets``; one row per 1-fps frame, ``frame`` 0-based and contiguous
    (row ``i`` is frame ``i``), ``triplets`` the space-separated triplet ids (0..C-1) present in
    the frame, empty for none. Errors name ``file:line``.

    Args:
        path: the video's CSV.
        num_classes: number of triplet classes C.
        num_frames: number of frames wanted (None: all rows); the file must have at least as
            many rows.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'triplet label file not found: {path}')
    with open(path, encoding='utf-8-sig') as f:
        lines = f.read().splitlines()
    if not lines or [c.strip().lower() for c in lines[0].split(',')] != ['frame', 'triplets']:
        raise ValueError(f'{path}:1: expected the header "frame,triplets", got '
                         f'{lines[0] if lines else ""!r}')
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(',')
        if len(parts) != 2:
            raise ValueError(f'{path}:{lineno}: expected "<frame>,<ids>", got {line!r}')
        if not re.fullmatch(r'\d+', parts[0].strip()) or int(parts[0]) != len(rows):
            raise ValueError(f'{path}:{lineno}: frame {parts[0].strip()!r} should be '
                             f'{len(rows)} (one row per frame, 0-based, in order)')
        ids = parts[1].split()
        for t in ids:
            if not re.fullmatch(r'\d+', t) or int(t) >= num_classes:
                raise ValueError(f'{path}:{lineno}: unknown triplet id {t!r} (expected '
                                 f'0..{num_classes - 1})')
        rows.append([int(t) for t in ids])
    if num_frames is not None and len(rows) < num_frames:
        raise ValueError(f'{path}: {len(rows)} rows for a video of {num_frames} frames')
    n = len(rows) if num_frames is None else num_frames
    if len(rows) > n:
        print_log(f'{path}: {len(rows)} rows for a video of {n} frames; the last '
                  f'{len(rows) - n} are not used', logger='current')
    labels = np.zeros((n, num_classes), dtype=np.uint8)
    for k, ids in enumerate(rows[:n]):
        labels[k, ids] = 1
    return labels


class _TripletMixin:
    num_classes: int

    def add_frame_annotation(self, info: dict, t: int) -> dict:
        """Multi-hot label of frame ``t`` as ``gt_label`` (uint8 ``[num_classes]``)."""
        info['gt_label'] = info.pop('labels')[t].copy()
        return info


@DATASETS.register_module()
class CholecT50TripletDataset(_TripletMixin, BaseFrameClipDataset):
    """CholecT50 triplets, online protocol: sample = 1-fps frame t, clip ending at t, multi-hot
    label of frame t (``gt_label``, uint8 ``[num_classes]``).

    Reads the official layout: ``data_root/videos/VIDNN/NNNNNN.png`` (1-fps, 0-based) and
    ``data_root/labels/VIDNN.json``. The number of frames of a video is the JSON's
    ``num_frames``.

    Args:
        data_root: the ``CholecT50`` folder.
        split: a split of ``splits`` (``'train'`` defaults to the videos in no other split), or
            None to use ``videos``.
        videos: video numbers (ints) or ids (``'VID05'``); exclusive with ``split``.
        filename_tmpl: frame file names.
        num_classes: triplet classes (100 for CholecT50).
        splits: ``{split: video numbers}`` (default: ``cholect50-challenge``, val 5, 18, 36, 65,
            74, test 92, 96, 103, 110, 111).
        all_videos: the videos of the release (for the implicit ``'train'`` split).
        clip_len, frame_interval, pipeline, seed, test_mode, lazy_init, on_bad_sample,
            max_bad_samples: see ``BaseFrameClipDataset``.
    """

    def __init__(self, data_root: str, split: Optional[str] = None,
                 videos: Optional[Sequence[Union[int, str]]] = None,
                 filename_tmpl: str = '{:06d}.png', num_classes: int = NUM_TRIPLETS,
                 splits: Optional[Mapping[str, Sequence[int]]] = None,
                 all_videos: Sequence[int] = ALL_VIDEOS, clip_len: int = 16,
                 frame_interval: int = 4, pipeline: Sequence[Union[dict, Callable]] = (),
                 seed: int = 0, test_mode: bool = False, lazy_init: bool = False,
                 on_bad_sample: str = 'error', max_bad_samples: int = 100) -> None:
        if (split is None) == (videos is None):
            raise ValueError('give exactly one of split and videos')
        splits = CHALLENGE_SPLIT if splits is None else dict(splits)
        nums = challenge_split(split, splits, all_videos) if split is not None else [
            int(str(v).upper().replace('VID', '')) for v in videos]
        self.video_names = [f'VID{n:02d}' for n in nums]
        self.root = data_root
        self.filename_tmpl = filename_tmpl
        self.num_classes = int(num_classes)
        super().__init__(clip_len=clip_len, frame_interval=frame_interval, pipeline=pipeline,
                         seed=seed, test_mode=test_mode, lazy_init=lazy_init,
                         on_bad_sample=on_bad_sample, max_bad_samples=max_bad_samples)
        self._metainfo['num_classes'] = self.num_classes

    def load_data_list(self) -> List[dict]:
        """One dict per video with ``labels`` (uint8 ``[num_frames, num_classes]``)."""
        if not osp.isdir(self.root):
            raise FileNotFoundError(f'{type(self).__name__}: data_root not found: {self.root}')
        out = []
        for name in self.video_names:
            frame_dir = osp.join(self.root, 'videos', name)
            if not osp.isdir(frame_dir):
                raise FileNotFoundError(f'frame folder of video {name!r} not found: {frame_dir}')
            labels = read_triplet_labels(osp.join(self.root, 'labels', f'{name}.json'),
                                         num_classes=self.num_classes)
            out.append(dict(video_id=name, total_frames=len(labels), frame_dir=frame_dir,
                            filename=None, native_fps=None, filename_tmpl=self.filename_tmpl,
                            offset=0, source='cholect50', labels=labels))
        return out


@DATASETS.register_module()
class SurgicalTripletDataset(_TripletMixin, BaseFrameClipDataset):
    """Triplet recognition on any dataset: videos from a manifest, per-video label files, splits
    by id lists; online protocol as ``CholecT50TripletDataset``.

    Args:
        manifest: manifest of the videos (frame folders or video files).
        label_dir: folder of the label files.
        num_classes: number of triplet classes C.
        label_format: ``'generic'`` (CSV ``frame,triplets``, see ``read_generic_triplet_csv``) or
            ``'cholect50'`` (CholecT50's JSON).
        label_file_tmpl: label file name, formatted with ``video_id`` (None: ``'{video_id}.csv'``
            / ``'{video_id}.json'``).
        include, exclude: video ids (lists or id-list files). An id in both is an error: give
            the videos that may only be used for training (e.g. Prostate21's PSI-AVA videos) as
            ``exclude`` of the val / test datasets to make that a checked rule.
        data_root: prefix of relative ``manifest``, ``label_dir`` and id-list paths.
        clip_len, frame_interval, pipeline, seed, test_mode, lazy_init, on_bad_sample,
            max_bad_samples: see ``BaseFrameClipDataset``.
    """

    def __init__(self, manifest: str, label_dir: str, num_classes: int,
                 label_format: str = 'generic', label_file_tmpl: Optional[str] = None,
                 include: Union[None, str, Sequence[str]] = None,
                 exclude: Union[None, str, Sequence[str]] = None,
                 data_root: Optional[str] = None, clip_len: int = 16, frame_interval: int = 4,
                 pipeline: Sequence[Union[dict, Callable]] = (), seed: int = 0,
                 test_mode: bool = False, lazy_init: bool = False,
                 on_bad_sample: str = 'error', max_bad_samples: int = 100) -> None:
        if label_format not in TRIPLET_LABEL_FORMATS:
            raise ValueError(f'{type(self).__name__}: label_format must be one of '
                             f'{TRIPLET_LABEL_FORMATS}, got {label_format!r}')
        if not (isinstance(num_classes, int) and num_classes >= 1):
            raise ValueError(f'num_classes must be a positive int, got {num_classes!r}')
        join = functools.partial(join_data_root, data_root)
        self.manifest = join(manifest)
        self.label_dir = join(label_dir)
        self.num_classes = num_classes
        self.label_format = label_format
        self.label_file_tmpl = label_file_tmpl or (
            '{video_id}.csv' if label_format == 'generic' else '{video_id}.json')
        self.include = read_id_list(join(include), f'include list of {manifest}')
        self.exclude = read_id_list(join(exclude), f'exclude list of {manifest}')
        super().__init__(clip_len=clip_len, frame_interval=frame_interval, pipeline=pipeline,
                         seed=seed, test_mode=test_mode, lazy_init=lazy_init,
                         on_bad_sample=on_bad_sample, max_bad_samples=max_bad_samples)
        self._metainfo['num_classes'] = self.num_classes

    def load_data_list(self) -> List[dict]:
        """One dict per video with ``labels`` (uint8 ``[num_frames, num_classes]``)."""
        if not osp.isdir(self.label_dir):
            raise FileNotFoundError(f'{type(self).__name__}: label_dir not found: '
                                    f'{self.label_dir}')
        entries = select_entries(load_manifest(self.manifest), self.include, self.exclude, 1,
                                 self.manifest)
        out = []
        for e in entries:
            path = osp.join(self.label_dir, self.label_file_tmpl.format(video_id=e.video_id))
            if self.label_format == 'generic':
                labels = read_generic_triplet_csv(path, self.num_classes, e.num_frames)
            else:
                labels = read_triplet_labels(path, e.num_frames, self.num_classes)
            info = e.to_results()
            info['total_frames'] = len(labels)
            info['labels'] = labels
            out.append(info)
        if not out:
            raise ValueError(f'{type(self).__name__}: no video in {self.manifest}')
        print_log(f'{type(self).__name__}: {len(out)} videos from {self.manifest}',
                  logger='current')
        return out
