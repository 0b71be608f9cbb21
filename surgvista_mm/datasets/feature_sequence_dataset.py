"""Whole-video feature sequences from a feature bank (the temporal stage of the two-stage
paradigm, docs/twostage.md; banks are written by ``tools/twostage/extract_bank.py``)."""
from __future__ import annotations

import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.structures import BaseDataElement

from surgvista_mm.registry import DATASETS

__all__ = ['FeatureSequenceDataset']


@DATASETS.register_module()
class FeatureSequenceDataset(BaseDataset):
    """One sample per video: its features of every 1-fps frame and their phase labels.

    An item is ``dict(inputs=float32 [T, D], data_samples=BaseDataElement)`` whose data sample
    holds ``gt_labels`` (int64 ``[T]``, -1 for unlabelled frames) and ``frame_indices``
    (int64 ``[T]``) and the metainfo ``video_id``. The metainfo of the dataset holds
    ``classes`` (the bank's).

    Args:
        bank_dir: the bank folder (``bank.json`` and one ``<video_id>.npz`` per video).
        split: which of the bank's splits (``'train'``, ``'val'``, ``'test'``): the videos of
            the stage-1 config's dataloader of that name.
        classes: expected class names; a bank with other classes is refused (None: the bank's).
        feature_dim: expected feature width (None: the bank's); a mismatch is refused.
        test_mode, lazy_init: see mmengine's ``BaseDataset``. The bank is read at
            ``full_init`` (building the dataset lazily does not need the bank to exist yet).
    """

    def __init__(self, bank_dir: str, split: str, classes: Optional[Sequence[str]] = None,
                 feature_dim: Optional[int] = None, test_mode: bool = False,
                 lazy_init: bool = False) -> None:
        self.bank_dir = str(bank_dir)
        self.split = split
        self.expected_classes = tuple(classes) if classes is not None else None
        self.feature_dim = feature_dim
        super().__init__(ann_file='', data_root='', data_prefix=dict(), pipeline=[],
                         test_mode=test_mode, lazy_init=lazy_init, serialize_data=False)

    def load_data_list(self) -> List[dict]:
        """One dict per video of the split (``video_id``, ``path``, ``num_frames``).

        Raises:
            FileNotFoundError: no bank; KeyError: an unknown split; ValueError: classes or
            width that differ from the expected ones, or videos the bank does not hold yet
            (an interrupted extraction: resume it).
        """
        from surgvista_mm.inference.feature_bank import read_bank_meta
        meta = read_bank_meta(self.bank_dir)
        where = f'feature bank {self.bank_dir}'
        if self.split not in meta['splits']:
            raise KeyError(f'{where} has no split {self.split!r} (it has '
                           f'{sorted(meta["splits"])})')
        classes = tuple(meta['classes'])
        if self.expected_classes is not None and self.expected_classes != classes:
            raise ValueError(f'{where} was made for the classes {list(classes)}, the config '
                             f'expects {list(self.expected_classes)}')
        if self.feature_dim is not None and meta.get('feature_dim') not in (None,
                                                                           self.feature_dim):
            raise ValueError(f'{where} holds features of width {meta["feature_dim"]} (from '
                             f'{meta["checkpoint"]}), the config expects {self.feature_dim}')
        self._metainfo['classes'] = classes
        ids = meta['splits'][self.split]
        missing = [v for v in ids if v not in meta['videos']
                   or not osp.isfile(osp.join(self.bank_dir, meta['videos'][v]['file']))]
        if missing:
            raise ValueError(f'{where} is incomplete: {len(missing)} video(s) of the '
                             f'{self.split} split have no features yet ({", ".join(missing[:8])}'
                             f'{" ..." if len(missing) > 8 else ""}); rerun '
                             'tools/twostage/extract_bank.py with the same checkpoint (it '
                             'resumes)')
        if not ids:
            raise ValueError(f'{where}: the {self.split} split holds no video')
        return [dict(video_id=v, path=osp.join(self.bank_dir, meta['videos'][v]['file']),
                     num_frames=int(meta['videos'][v]['num_frames'])) for v in ids]

    def prepare_data(self, idx: int) -> Dict:
        """Read video ``idx``'s features and labels."""
        info = self.get_data_info(idx)
        with np.load(info['path']) as data:
            features = data['features']
            labels = data['labels']
            frames = data['frame_indices']
        if features.ndim != 2 or len(features) != len(labels) or len(features) != len(frames):
            raise ValueError(f'{info["path"]}: features {features.shape}, labels '
                             f'{labels.shape} and frame_indices {frames.shape} do not match')
        sample = BaseDataElement(metainfo=dict(video_id=info['video_id']))
        sample.gt_labels = torch.from_numpy(labels.astype(np.int64))
        sample.frame_indices = torch.from_numpy(frames.astype(np.int64))
        return dict(inputs=torch.from_numpy(features.astype(np.float32)), data_samples=sample)
