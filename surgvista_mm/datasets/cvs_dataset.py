"""Critical View of Safety datasets from the official releases (dataset-formats.md §8-9).

* ``EndoscapesCVSDataset``: Endoscapes2023 keyframes (one sample per CVS keyframe, every 5 s);
  the clip is ``clip_len`` frames ``frame_interval`` seconds apart ending at the keyframe.
* ``Cholec80CVSDataset``: see ``cholec80_cvs_dataset.py`` (one clip per annotated segment).
* ``PackSurgVistaCVSInputs``: ``PackSurgVistaClipInputs`` that also keeps ``gt_score`` (the
  annotator means, float) as a data field, since ``set_gt_label`` casts to int64.
"""
from __future__ import annotations

import csv
import os
import os.path as osp
import re
from typing import Callable, Dict, List, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging import print_log

from surgvista_mm.registry import DATASETS, TRANSFORMS
from surgvista_mm.utils.io import read_json
from .base_clip_dataset import BaseFrameClipDataset
from .transforms import PackSurgVistaClipInputs

#: ``ds`` order of Endoscapes: C1 two structures, C2 hepatocystic triangle, C3 cystic plate.
ENDOSCAPES_CRITERIA = ('two_structures', 'hepatocystic_triangle', 'cystic_plate')
_FRAME_NAME = re.compile(r'^(\d+)_(\d+)\.jpg$')
CVSAnnotations = Dict[int, List[Tuple[int, np.ndarray]]]


def read_vids_file(path: str) -> List[int]:
    """Video ids of an Endoscapes ``{split}_vids.txt`` (one float per line, e.g.
    ``1.000000000000000000e+00``), as ints, in file order."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Endoscapes video list not found: {path}')
    vids = []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                value = float(line.strip())
            except ValueError as e:
                raise ValueError(f'{path}:{lineno}: bad video id {line.strip()!r}') from e
            if value != int(value) or value < 0:
                raise ValueError(f'{path}:{lineno}: video id {line.strip()!r} is not a '
                                 'non-negative integer')
            vids.append(int(value))
    return vids


def _scores(value: object, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError) as e:
        raise ValueError(f'{where}: CVS scores must be 3 numbers, got {value!r}') from e
    if arr.shape != (3,) or not np.all((arr >= 0) & (arr <= 1)):
        raise ValueError(f'{where}: CVS scores must be 3 numbers in [0, 1], got {value!r}')
    return arr


def read_endoscapes_coco(path: str) -> CVSAnnotations:
    """Keyframe annotations of an ``annotation_ds_coco.json``: ``{vid: [(frame, ds), ...]}``.

    ``frame`` is the 25-fps index of the image name ``{vid}_{frame}.jpg``; ``ds`` float32 ``[3]``
    (C1, C2, C3 annotator means). Images whose ``is_ds_keyframe`` is false are skipped.
    """
    data = read_json(path, 'Endoscapes CVS annotation file')
    images = data.get('images') if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise ValueError(f'{path}: no "images" list (expected a COCO file)')
    out: CVSAnnotations = {}
    for i, img in enumerate(images):
        where = f'{path}: images[{i}]'
        m = _FRAME_NAME.match(osp.basename(str(img.get('file_name', ''))))
        if m is None:
            raise ValueError(f'{where}: file_name {img.get("file_name")!r} is not '
                             '"{vid}_{frame}.jpg"')
        if not img.get('is_ds_keyframe', True):
            continue
        if 'ds' not in img:
            raise ValueError(f'{where}: keyframe without "ds" scores')
        out.setdefault(int(m.group(1)), []).append((int(m.group(2)), _scores(img['ds'], where)))
    return out


def read_endoscapes_metadata(path: str) -> CVSAnnotations:
    """Keyframe annotations of ``all_metadata.csv`` (columns ``vid``, ``frame``, ``C1``, ``C2``,
    ``C3``, ``is_ds_keyframe``, ...): ``{vid: [(frame, [C1, C2, C3]), ...]}``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Endoscapes metadata file not found: {path}')
    out: CVSAnnotations = {}
    with open(path, encoding='utf-8-sig', newline='') as f:
        reader = csv.DictReader(f)
        missing = {'vid', 'frame', 'C1', 'C2', 'C3', 'is_ds_keyframe'} - set(
            reader.fieldnames or ())
        if missing:
            raise ValueError(f'{path}: missing columns {sorted(missing)}')
        for lineno, row in enumerate(reader, start=2):
            where = f'{path}:{lineno}'
            if str(row['is_ds_keyframe']).strip().lower() not in ('true', '1', '1.0'):
                continue
            try:
                vid, frame = int(float(row['vid'])), int(float(row['frame']))
                cs = [float(row[c]) for c in ('C1', 'C2', 'C3')]
            except (TypeError, ValueError) as e:
                raise ValueError(f'{where}: malformed keyframe row {dict(row)!r}') from e
            out.setdefault(vid, []).append((frame, _scores(cs, where)))
    return out


def snap_to_available(wanted: np.ndarray, available: np.ndarray) -> np.ndarray:
    """For each wanted frame the latest available frame not after it (the first available
    frame for those before the video start). Both int64, ``available`` sorted; shape of
    ``wanted``."""
    pos = np.searchsorted(available, wanted, side='right') - 1
    return available[np.maximum(pos, 0)]


@DATASETS.register_module()
class EndoscapesCVSDataset(BaseFrameClipDataset):
    """Endoscapes2023 CVS, one sample per keyframe (official layout, dataset-formats.md §9).

    Reads ``data_root/{split}_vids.txt`` (float ids), the keyframes of
    ``data_root/{split}/annotation_ds_coco.json`` (``ann_source='coco'``) or of
    ``data_root/all_metadata.csv`` (``'csv'``), and the JPGs ``data_root/{split}/{vid}_{frame}.jpg``
    (25-fps frame numbers, one per second). The clip of keyframe ``f`` is the frames
    ``f - frame_interval * native_fps * j`` (``j = clip_len-1 .. 0``), each replaced by the
    latest existing frame not after it (so clamped at the video's first frame); its
    ``frame_inds`` are 25-fps numbers, loaded by ``SurgicalFrameLoader`` through
    ``filename_tmpl='{vid}_{}.jpg'``.

    Labels: ``gt_score`` float32 ``[3]`` = annotator means; ``task='multilabel'`` (official):
    ``gt_label`` uint8 ``[3]`` = means rounded (>= 0.5, 2 of 3 annotators);
    ``task='single_label4'`` (the paper): ``gt_label`` = number of rounded criteria met (0-3).
    Metainfo: ``video_id`` (str of the int id), ``frame_index`` (25-fps keyframe number).

    Args:
        data_root: the ``endoscapes`` folder.
        split: ``'train'``, ``'val'`` or ``'test'``.
        task: ``'multilabel'`` or ``'single_label4'``.
        ann_source: ``'coco'`` or ``'csv'``.
        native_fps: frame numbers per second of the file names (25).
        clip_len: frames per clip (8). frame_interval: seconds between them (4).
        pipeline, seed, test_mode, lazy_init, on_bad_sample, max_bad_samples: see
            ``BaseFrameClipDataset``.
    """

    def __init__(self, data_root: str, split: str, task: str = 'multilabel',
                 ann_source: str = 'coco', native_fps: int = 25, clip_len: int = 8,
                 frame_interval: int = 4, pipeline: Sequence[Union[dict, Callable]] = (),
                 seed: int = 0, test_mode: bool = False, lazy_init: bool = False,
                 on_bad_sample: str = 'error', max_bad_samples: int = 100) -> None:
        if split not in ('train', 'val', 'test'):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        if task not in ('multilabel', 'single_label4'):
            raise ValueError(f"task must be 'multilabel' or 'single_label4', got {task!r}")
        if ann_source not in ('coco', 'csv'):
            raise ValueError(f"ann_source must be 'coco' or 'csv', got {ann_source!r}")
        self.root, self.split, self.task = data_root, split, task
        self.ann_source, self.native_fps = ann_source, int(native_fps)
        super().__init__(clip_len=clip_len, frame_interval=frame_interval, pipeline=pipeline,
                         seed=seed, test_mode=test_mode, lazy_init=lazy_init,
                         on_bad_sample=on_bad_sample, max_bad_samples=max_bad_samples)
        self._metainfo['num_classes'] = 3 if task == 'multilabel' else 4
        self._metainfo['criteria'] = ENDOSCAPES_CRITERIA

    def load_data_list(self) -> List[dict]:
        """One dict per video: ``keyframes`` int64 ``[K]``, ``scores`` float32 ``[K, 3]``,
        ``available`` int64 ``[N]`` (its frame numbers in the split folder)."""
        if not osp.isdir(self.root):
            raise FileNotFoundError(f'{type(self).__name__}: data_root not found: {self.root}')
        vids = read_vids_file(osp.join(self.root, f'{self.split}_vids.txt'))
        frame_dir = osp.join(self.root, self.split)
        if not osp.isdir(frame_dir):
            raise FileNotFoundError(f'Endoscapes frame folder not found: {frame_dir}')
        if self.ann_source == 'coco':
            ann = read_endoscapes_coco(osp.join(frame_dir, 'annotation_ds_coco.json'))
        else:
            ann = read_endoscapes_metadata(osp.join(self.root, 'all_metadata.csv'))
        frames: Dict[int, List[int]] = {}
        for name in os.listdir(frame_dir):
            m = _FRAME_NAME.match(name)
            if m:
                frames.setdefault(int(m.group(1)), []).append(int(m.group(2)))
        videos = []
        for vid in vids:
            if not ann.get(vid):
                print_log(f'Endoscapes {self.split}: video {vid} has no CVS keyframe; skipped',
                          logger='current')
                continue
            available = np.asarray(sorted(frames.get(vid, ())), dtype=np.int64)
            keys = sorted(ann[vid], key=lambda kv: kv[0])
            keyframes = np.asarray([k for k, _ in keys], dtype=np.int64)
            missing = np.setdiff1d(keyframes, available)
            if missing.size:
                raise FileNotFoundError(f'keyframe image of video {vid} not found: '
                                        f'{osp.join(frame_dir, f"{vid}_{int(missing[0])}.jpg")}')
            videos.append(dict(
                video_id=str(vid), total_frames=len(keyframes), frame_dir=frame_dir,
                filename=None, native_fps=None, filename_tmpl=f'{vid}_{{}}.jpg', offset=0,
                source='endoscapes', keyframes=keyframes, available=available,
                scores=np.stack([s for _, s in keys]).astype(np.float32)))
        if not videos:
            raise ValueError(f'{type(self).__name__}: no annotated keyframe for the videos of '
                             f'{self.split}_vids.txt in {self.root}')
        return videos

    def add_frame_annotation(self, info: dict, t: int) -> dict:
        """Keyframe ``t`` of the video: its clip, frame number and labels."""
        keyframe = int(info['keyframes'][t])
        step = self.frame_interval * self.native_fps
        wanted = keyframe - step * np.arange(self.clip_len - 1, -1, -1, dtype=np.int64)
        info['frame_inds'] = snap_to_available(wanted, info.pop('available'))
        info['frame_index'] = keyframe
        score = info.pop('scores')[t].copy()
        info.pop('keyframes')
        info['gt_score'] = score
        consensus = (score >= 0.5).astype(np.uint8)
        info['gt_label'] = consensus if self.task == 'multilabel' else int(consensus.sum())
        return info


@TRANSFORMS.register_module()
class PackSurgVistaCVSInputs(PackSurgVistaClipInputs):
    """``PackSurgVistaClipInputs`` plus ``results['gt_score']`` (float ``[C]``, e.g. annotator
    means) as the data field ``gt_score`` (torch.float32), read by ``SurgicalCVSMetric``."""

    def transform(self, results: Dict) -> Dict:
        """Pack, then attach ``gt_score`` when present."""
        packed = super().transform(results)
        if results.get('gt_score') is not None:
            score = torch.as_tensor(np.asarray(results['gt_score'], dtype=np.float32))
            packed['data_samples'].set_field(score, 'gt_score', dtype=torch.Tensor)
        return packed


def uniform_indices(start: int, end: int, num: int) -> np.ndarray:
    """``num`` frames spread uniformly over ``[start, end]`` (inclusive): the centres of ``num``
    equal bins, floored; repeats when the range is shorter than ``num``. int64 ``[num]``."""
    if end < start:
        raise ValueError(f'empty frame range [{start}, {end}]')
    length = end - start + 1
    return start + np.floor((np.arange(num) + 0.5) * length / num).astype(np.int64)


