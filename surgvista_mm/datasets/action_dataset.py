"""SurgicalActions160 clip classification (dataset-formats.md §7).

Official layout: ``data_root/CC_name/CC_MM.mp4`` (16 class folders ``01_abdominal_access`` ..
``16_endobag-out``, 10 clips each); label = CC - 1. There is no official split: the benchmark's
112 / 48 split is ``surgical_actions160_split(seed)``, class-stratified (7 train / 3 test clips
per class) and reproducible (numpy PCG64 seeded by ``seed``, clips sorted by name first).
"""
from __future__ import annotations

import os
import os.path as osp
import re
from typing import Callable, Dict, List, Sequence, Union

import numpy as np

from surgvista_mm.registry import DATASETS
from .base_clip_dataset import BaseFrameClipDataset
from .cvs_dataset import uniform_indices

SURGICAL_ACTIONS160_CLASSES = (
    'abdominal_access', 'injection', 'cutting', 'blunt_dissection', 'dissection_thermal',
    'irrigation', 'coagulation', 'suction', 'needle_positioning', 'needle_puncture',
    'knot_pushing', 'knotting', 'thread_cut', 'sling-in', 'endobag-in', 'endobag-out')
_CLIP_NAME = re.compile(r'^(\d{2})_(\d{2})\.mp4$', re.IGNORECASE)


def list_surgical_actions160(data_root: str) -> List[str]:
    """Relative paths ``CC_name/CC_MM.mp4`` of the clips, sorted; the class folder prefix must
    match the clip's class number."""
    if not osp.isdir(data_root):
        raise FileNotFoundError(f'SurgicalActions160 folder not found: {data_root}')
    clips = []
    for folder in sorted(os.listdir(data_root)):
        path = osp.join(data_root, folder)
        if not osp.isdir(path) or not re.match(r'^\d{2}_', folder):
            continue
        for name in sorted(os.listdir(path)):
            m = _CLIP_NAME.match(name)
            if m is None:
                continue
            if m.group(1) != folder[:2]:
                raise ValueError(f'clip {osp.join(path, name)} is in the folder of class '
                                 f'{folder[:2]}')
            clips.append(f'{folder}/{name}')
    if not clips:
        raise FileNotFoundError(f'no CC_MM.mp4 clip in the class folders of {data_root}')
    return clips


def clip_label(rel_path: str) -> int:
    """Class id (0-15) of ``CC_name/CC_MM.mp4``: CC - 1."""
    return int(osp.basename(rel_path)[:2]) - 1


def surgical_actions160_split(clips: Sequence[str], seed: int = 0, train_per_class: int = 7,
                              val_per_class: int = 0) -> Dict[str, List[str]]:
    """Seeded class-stratified split of the clips into ``train`` / ``val`` / ``test`` lists.

    Per class (in sorted clip order) a permutation from ``np.random.default_rng([seed, class])``
    puts the first ``train_per_class - val_per_class`` clips in train, the next
    ``val_per_class`` in val (carved from the training share) and the rest in test. With 10 clips
    per class, the defaults give the 112 / 0 / 48 split. Each list is sorted.
    """
    if not 0 <= val_per_class < train_per_class:
        raise ValueError(f'need 0 <= val_per_class < train_per_class, got {val_per_class}, '
                         f'{train_per_class}')
    by_class: Dict[int, List[str]] = {}
    for c in sorted(clips):
        by_class.setdefault(clip_label(c), []).append(c)
    out: Dict[str, List[str]] = dict(train=[], val=[], test=[])
    for label, members in sorted(by_class.items()):
        if len(members) <= train_per_class:
            raise ValueError(f'class {label + 1:02d} has {len(members)} clips, not more than '
                             f'train_per_class={train_per_class}')
        order = np.random.default_rng([int(seed), label]).permutation(len(members))
        n_train = train_per_class - val_per_class
        out['train'] += [members[i] for i in order[:n_train]]
        out['val'] += [members[i] for i in order[n_train:train_per_class]]
        out['test'] += [members[i] for i in order[train_per_class:]]
    return {k: sorted(v) for k, v in out.items()}


@DATASETS.register_module()
class SurgicalActions160Dataset(BaseFrameClipDataset):
    """SurgicalActions160: one sample per clip, ``clip_len`` frames sampled uniformly (bin centres,
    same every epoch) from the whole mp4, decoded by ``SurgicalFrameLoader`` through decord.

    ``frame_inds`` are **native** frame numbers (the results carry ``native_fps=1.0`` so the loader
    maps index k to frame k). ``gt_label`` = class id; metainfo ``video_id`` = clip name
    (``'03_07'``), ``frame_index`` = 0.

    Args:
        data_root: the folder holding the 16 class folders.
        split: ``'train'``, ``'val'`` or ``'test'`` of ``surgical_actions160_split``, or ``'all'``.
        split_seed, train_per_class, val_per_class: see ``surgical_actions160_split``.
        clip_len: frames per clip (16).
        pipeline, seed, test_mode, lazy_init, on_bad_sample, max_bad_samples: see
            ``BaseFrameClipDataset``.
    """

    def __init__(self, data_root: str, split: str = 'train', split_seed: int = 0,
                 train_per_class: int = 7, val_per_class: int = 0, clip_len: int = 16,
                 pipeline: Sequence[Union[dict, Callable]] = (), seed: int = 0,
                 test_mode: bool = False, lazy_init: bool = False,
                 on_bad_sample: str = 'error', max_bad_samples: int = 100) -> None:
        if split not in ('train', 'val', 'test', 'all'):
            raise ValueError(f"split must be 'train', 'val', 'test' or 'all', got {split!r}")
        self.root, self.split = data_root, split
        self.split_args = dict(seed=split_seed, train_per_class=train_per_class,
                               val_per_class=val_per_class)
        super().__init__(clip_len=clip_len, frame_interval=1, pipeline=pipeline, seed=seed,
                         test_mode=test_mode, lazy_init=lazy_init,
                         on_bad_sample=on_bad_sample, max_bad_samples=max_bad_samples)
        self._metainfo['classes'] = SURGICAL_ACTIONS160_CLASSES

    def load_data_list(self) -> List[dict]:
        """One dict per clip with its file and ``num_native`` (decoded frame count)."""
        import decord  # only this dataset needs it at load time
        clips = list_surgical_actions160(self.root)
        if self.split != 'all':
            clips = surgical_actions160_split(clips, **self.split_args)[self.split]
        if not clips:
            raise ValueError(f'{type(self).__name__}: split {self.split!r} is empty')
        out = []
        for rel in clips:
            path = osp.join(self.root, rel)
            try:
                num = len(decord.VideoReader(path, num_threads=1))
            except decord.DECORDError as e:
                raise RuntimeError(f'cannot decode clip {path}: {e}') from e
            if num < 1:
                raise ValueError(f'clip {path} has no frame')
            out.append(dict(video_id=osp.splitext(osp.basename(rel))[0], total_frames=1,
                            frame_dir=None, filename=path, native_fps=1.0, filename_tmpl=None,
                            offset=0, source='surgicalactions160', num_native=num,
                            label=clip_label(rel)))
        return out

    def add_frame_annotation(self, info: dict, t: int) -> dict:
        """The clip's uniformly sampled native frames and its class id."""
        info['frame_inds'] = uniform_indices(0, int(info.pop('num_native')) - 1, self.clip_len)
        info['frame_index'] = 0
        info['gt_label'] = int(info.pop('label'))
        return info
