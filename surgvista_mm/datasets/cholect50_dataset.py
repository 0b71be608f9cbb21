"""CholecT50 action-triplet recognition from the official release (dataset-formats.md §6)."""
from __future__ import annotations

import os.path as osp
from typing import Callable, List, Optional, Sequence, Union

import numpy as np

from surgvista_mm.registry import DATASETS
from surgvista_mm.utils.io import read_json
from .base_clip_dataset import BaseFrameClipDataset

NUM_TRIPLETS = 100
#: ``cholect50-challenge`` split (CAMMA's official data loader); train = the other 40 videos.
CHALLENGE_SPLIT = dict(val=(5, 18, 36, 65, 74), test=(92, 96, 103, 110, 111))
#: the 50 videos (union of the five ``cholect50-crossval`` folds).
ALL_VIDEOS = (1, 2, 4, 5, 6, 8, 10, 12, 13, 14, 15, 18, 22, 23, 25, 26, 27, 29, 31, 32, 35, 36,
              40, 42, 43, 47, 48, 49, 50, 51, 52, 56, 57, 60, 62, 65, 66, 68, 70, 73, 74, 75, 78,
              79, 80, 92, 96, 103, 110, 111)


def challenge_split(split: str) -> List[int]:
    """Video numbers of the ``cholect50-challenge`` split ``'train'``, ``'val'`` or ``'test'``."""
    if split in CHALLENGE_SPLIT:
        return list(CHALLENGE_SPLIT[split])
    if split == 'train':
        held = set(CHALLENGE_SPLIT['val']) | set(CHALLENGE_SPLIT['test'])
        return [v for v in ALL_VIDEOS if v not in held]
    raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")


def read_triplet_labels(path: str, num_frames: Optional[int] = None) -> np.ndarray:
    """Multi-hot triplet labels ``uint8 [num_frames, 100]`` from an official ``VIDNN.json``.

    Each instance of ``annotations[frame]`` is 15 numbers whose first is the triplet id
    (-1: no action). ``num_frames`` defaults to the file's ``num_frames`` (else the largest
    annotated frame + 1); frames without an entry get all zeros.
    """
    data = read_json(path, 'CholecT50 label file')
    ann = data.get('annotations')
    if not isinstance(ann, dict):
        raise ValueError(f'{path}: no "annotations" object')
    if num_frames is None:
        num_frames = int(data.get('num_frames') or (max(map(int, ann), default=-1) + 1))
    labels = np.zeros((num_frames, NUM_TRIPLETS), dtype=np.uint8)
    for frame, instances in ann.items():
        k = int(frame)
        if k >= num_frames:
            continue
        for inst in instances:
            if not isinstance(inst, (list, tuple)) or len(inst) < 1:
                raise ValueError(f'{path}: frame {frame}: bad instance {inst!r}')
            tid = int(inst[0])
            if tid >= NUM_TRIPLETS:
                raise ValueError(f'{path}: frame {frame}: triplet id {tid} >= {NUM_TRIPLETS}')
            if tid >= 0:
                labels[k, tid] = 1
    return labels


@DATASETS.register_module()
class CholecT50TripletDataset(BaseFrameClipDataset):
    """CholecT50 triplets, online protocol: sample = 1-fps frame t, clip ending at t, multi-hot
    100-class label of frame t (``gt_label``, uint8 ``[100]``).

    Reads the official layout: ``data_root/videos/VIDNN/NNNNNN.png`` (1-fps, 0-based) and
    ``data_root/labels/VIDNN.json``. The number of frames of a video is the JSON's
    ``num_frames``.

    Args:
        data_root: the ``CholecT50`` folder.
        split: ``'train'``, ``'val'`` or ``'test'`` of the ``cholect50-challenge`` split, or None
            to use ``videos``.
        videos: video numbers (ints) or ids (``'VID05'``); exclusive with ``split``.
        filename_tmpl: frame file names.
        clip_len, frame_interval, pipeline, seed, test_mode, lazy_init, on_bad_sample,
            max_bad_samples: see ``BaseFrameClipDataset``.
    """

    def __init__(self, data_root: str, split: Optional[str] = None,
                 videos: Optional[Sequence[Union[int, str]]] = None,
                 filename_tmpl: str = '{:06d}.png', clip_len: int = 16, frame_interval: int = 4,
                 pipeline: Sequence[Union[dict, Callable]] = (), seed: int = 0,
                 test_mode: bool = False, lazy_init: bool = False,
                 on_bad_sample: str = 'error', max_bad_samples: int = 100) -> None:
        if (split is None) == (videos is None):
            raise ValueError('give exactly one of split and videos')
        nums = challenge_split(split) if split is not None else [
            int(str(v).upper().replace('VID', '')) for v in videos]
        self.video_names = [f'VID{n:02d}' for n in nums]
        self.root = data_root
        self.filename_tmpl = filename_tmpl
        super().__init__(clip_len=clip_len, frame_interval=frame_interval, pipeline=pipeline,
                         seed=seed, test_mode=test_mode, lazy_init=lazy_init,
                         on_bad_sample=on_bad_sample, max_bad_samples=max_bad_samples)
        self._metainfo['num_classes'] = NUM_TRIPLETS

    def load_data_list(self) -> List[dict]:
        """One dict per video with ``labels`` (uint8 ``[num_frames, 100]``)."""
        if not osp.isdir(self.root):
            raise FileNotFoundError(f'{type(self).__name__}: data_root not found: {self.root}')
        out = []
        for name in self.video_names:
            frame_dir = osp.join(self.root, 'videos', name)
            if not osp.isdir(frame_dir):
                raise FileNotFoundError(f'frame folder of video {name!r} not found: {frame_dir}')
            labels = read_triplet_labels(osp.join(self.root, 'labels', f'{name}.json'))
            out.append(dict(video_id=name, total_frames=len(labels), frame_dir=frame_dir,
                            filename=None, native_fps=None, filename_tmpl=self.filename_tmpl,
                            offset=0, source='cholect50', labels=labels))
        return out

    def add_frame_annotation(self, info: dict, t: int) -> dict:
        """Multi-hot label of frame ``t`` as ``gt_label`` (uint8 ``[100]``)."""
        info['gt_label'] = info.pop('labels')[t].copy()
        return info
