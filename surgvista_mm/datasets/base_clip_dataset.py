"""Shared machinery of the per-frame clip datasets (pre-training and online fine-tuning).

Every 1-fps frame ``t`` of every video is one sample; its clip is the ``clip_len`` frames ending
at ``t`` with stride ``frame_interval``, ``[t - (clip_len-1)*interval, ..., t - interval, t]``,
indices below 0 clamped to 0 (the online, causal protocol of SurgVISTA, spec §5 and §7).

Random transforms draw from ``results['rng']``, a ``numpy.random.Generator`` seeded from
``(seed, epoch, sample_index)``: the same sample of the same epoch always gets the same crop and
mask, whatever the worker, the rank or the resume point. ``dataset[i]`` uses the dataset's
``epoch`` attribute (default 0); ``dataset[(i, epoch)]`` names the epoch explicitly, which is what
``SurgVistaEpochSampler`` yields (an attribute set on the main process does not reach persistent
data-loader workers; the sampled item does).
"""
from __future__ import annotations

import hashlib
import logging
import numbers
import os
import shutil
import tempfile
import weakref
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from surgvista_mm.registry import TRANSFORMS
from .media import MediaError

IndexItem = Union[int, Tuple[int, int]]
ON_BAD_SAMPLE = ('error', 'skip')
_REPLACEMENT_TRIES = 16


class BadSampleBudgetError(RuntimeError):
    """More samples failed to load than ``max_bad_samples`` allows (``on_bad_sample='skip'``)."""


def _remove_tree_in(owner_pid: int, path: str) -> None:
    if os.getpid() == owner_pid:  # not from a forked data-loader worker
        shutil.rmtree(path, ignore_errors=True)


def causal_clip_indices(t: int, clip_len: int, frame_interval: int) -> np.ndarray:
    """1-fps frame indices of the clip ending at frame ``t``.

    Args:
        t: index of the last (current) frame, >= 0.
        clip_len: number of frames in the clip.
        frame_interval: stride between frames, in 1-fps frames (seconds).

    Returns:
        int64 array ``[clip_len]``: ``t - frame_interval * (clip_len - 1 - j)`` for
        ``j = 0..clip_len-1``, clamped below at 0 (so the first frame repeats near the start).
    """
    offsets = frame_interval * np.arange(clip_len - 1, -1, -1, dtype=np.int64)
    return np.maximum(t - offsets, 0)


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample: PCG64 seeded by the entropy list ``[seed, epoch, index]``."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


class BaseFrameClipDataset(BaseDataset):
    """Per-frame samples over a list of videos (abstract: subclasses load the videos).

    ``load_data_list`` returns one dict per **video** (not per sample), holding at least
    ``video_id`` and ``total_frames`` (its number of 1-fps frames); sample ``i`` is mapped to a
    (video, frame) pair by a cumulative count, so millions of frames cost no per-sample memory.
    A video may also hold ``sample_start`` (default 0): its frames before it are no samples
    (e.g. unlabelled) but still serve as clip context.

    Args:
        clip_len: frames per clip (16 in SurgVISTA).
        frame_interval: stride between clip frames in 1-fps frames (4 in SurgVISTA).
        pipeline: transforms (configs or callables).
        seed: base seed of the per-sample generators.
        test_mode: passed to ``BaseDataset``.
        lazy_init: defer reading the annotations until first use.
        on_bad_sample: what a sample whose media fail to load
            (:class:`~surgvista_mm.datasets.media.MediaError`) does: ``'error'`` (default) stops
            with the error, naming file, video and frame; ``'skip'`` (training only) replaces it
            by another sample drawn from a generator seeded by ``(seed, epoch, index)``, so a
            resumed run sees the same replacement; each bad sample is counted and each bad file
            logged once (WARNING).
        max_bad_samples: with ``'skip'``, the run stops (:class:`BadSampleBudgetError`) when
            more distinct samples than this turned out bad (counted over all data-loader
            workers of this process).
    """

    def __init__(self, clip_len: int = 16, frame_interval: int = 4,
                 pipeline: Sequence[Union[dict, Callable]] = (), seed: int = 0,
                 test_mode: bool = False, lazy_init: bool = False,
                 on_bad_sample: str = 'error', max_bad_samples: int = 100) -> None:
        if not (isinstance(clip_len, int) and clip_len >= 1):
            raise ValueError(f'clip_len must be a positive int, got {clip_len!r}')
        if not (isinstance(frame_interval, int) and frame_interval >= 1):
            raise ValueError(f'frame_interval must be a positive int, got {frame_interval!r}')
        if not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f'seed must be a non-negative int, got {seed!r}')
        if on_bad_sample not in ON_BAD_SAMPLE:
            raise ValueError(f"on_bad_sample must be one of {ON_BAD_SAMPLE}, got "
                             f"{on_bad_sample!r}")
        if on_bad_sample == 'skip' and test_mode:
            raise ValueError("on_bad_sample='skip' is for training: evaluation must see every "
                             "frame (fix or exclude the bad media; tools/data/check_media.py)")
        if not isinstance(max_bad_samples, numbers.Integral) or max_bad_samples < 0:
            raise ValueError(f'max_bad_samples must be a non-negative int, got '
                             f'{max_bad_samples!r}')
        self.on_bad_sample = on_bad_sample
        self.max_bad_samples = int(max_bad_samples)
        # bad samples are recorded as files, so that every data-loader worker sees them
        self._bad_dir: Optional[str] = None
        if on_bad_sample == 'skip':
            self._bad_dir = tempfile.mkdtemp(prefix='surgvista_bad_samples_')
            weakref.finalize(self, _remove_tree_in, os.getpid(), self._bad_dir)
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.seed = int(seed)
        self.epoch = 0
        self._cum_frames = np.zeros(0, dtype=np.int64)
        # build here with this scope's registry (falls back to mmaction2's and mmengine's), so
        # the dataset also works outside a Runner whose default scope is surgvista_mm
        built = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        super().__init__(ann_file='', data_root='', data_prefix=dict(), pipeline=built,
                         test_mode=test_mode, lazy_init=lazy_init, serialize_data=True)

    # ---------------------------------------------------------------- set-up
    def full_init(self) -> None:
        """Load the videos and build the sample -> (video, frame) index."""
        if self._fully_initialized:
            return
        super().full_init()
        counts = [self._num_samples(self._video_info(i)) for i in range(self.num_videos)]
        self._cum_frames = np.cumsum(np.asarray(counts, dtype=np.int64))

    @staticmethod
    def _num_samples(info: dict) -> int:
        """Samples of one video: its frames from ``sample_start`` (default 0) on."""
        return max(int(info['total_frames']) - int(info.get('sample_start', 0)), 0)

    def _video_info(self, video_idx: int) -> dict:
        info = BaseDataset.get_data_info(self, video_idx)
        info.pop('sample_idx', None)
        return info

    @property
    def num_videos(self) -> int:
        """Number of videos (after filtering)."""
        if self.serialize_data and hasattr(self, 'data_address'):
            return len(self.data_address)
        return len(self.data_list)

    def set_epoch(self, epoch: int) -> None:
        """Epoch used when an item is requested by a plain int index."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if not self._fully_initialized:
            self.full_init()
        return int(self._cum_frames[-1]) if len(self._cum_frames) else 0

    # ---------------------------------------------------------------- access
    def locate(self, idx: int) -> Tuple[int, int]:
        """Map a sample index to ``(video_idx, position among the video's samples)`` (the
        frame index is that position plus the video's ``sample_start``)."""
        n = len(self)
        if idx < 0:
            idx += n
        if not 0 <= idx < n:
            raise IndexError(f'sample index {idx} out of range for {type(self).__name__} '
                             f'of length {n}')
        video_idx = int(np.searchsorted(self._cum_frames, idx, side='right'))
        start = int(self._cum_frames[video_idx - 1]) if video_idx else 0
        return video_idx, idx - start

    def get_data_info(self, idx: int) -> dict:
        """Annotation of sample ``idx``: its video's keys plus ``frame_index``, ``frame_inds``
        (int64 ``[clip_len]``, 1-fps indices) and ``sample_idx``."""
        if idx < 0:
            idx += len(self)
        video_idx, t = self.locate(idx)
        info = self._video_info(video_idx)
        t += int(info.get('sample_start', 0))
        info['frame_index'] = t
        info['frame_inds'] = causal_clip_indices(t, self.clip_len, self.frame_interval)
        info['clip_len'] = self.clip_len
        info['frame_interval'] = self.frame_interval
        info['sample_idx'] = idx
        return self.add_frame_annotation(info, t)

    def add_frame_annotation(self, info: dict, t: int) -> dict:
        """Hook for subclasses: add the labels of frame ``t`` to ``info`` (default: none)."""
        return info

    def sample_indices_of_video(self, video_idx: int) -> range:
        """Sample indices of all frames of video ``video_idx``, in frame order."""
        start = int(self._cum_frames[video_idx - 1]) if video_idx else 0
        return range(start, int(self._cum_frames[video_idx]))

    @staticmethod
    def _parse_item(item: IndexItem, default_epoch: int) -> Tuple[int, int]:
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise TypeError(f'expected an index or an (index, epoch) pair, got {item!r}')
            idx, epoch = item
        else:
            idx, epoch = item, default_epoch
        if not isinstance(idx, numbers.Integral) or not isinstance(epoch, numbers.Integral):
            raise TypeError(f'expected an int index or an (index, epoch) pair of ints, got '
                            f'{item!r}')
        return int(idx), int(epoch)

    def __getitem__(self, item: IndexItem) -> dict:
        """Sample ``item`` (an int, using ``self.epoch``) or ``(index, epoch)`` after the pipeline.

        ``results`` entering the pipeline also hold ``epoch`` and ``rng`` (see the module
        docstring). A pipeline returning None is an error (no silent re-fetch of another sample).
        """
        if not self._fully_initialized:
            self.full_init()
        idx, epoch = self._parse_item(item, self.epoch)
        if idx < 0:
            idx += len(self)
        try:
            return self._load_sample(idx, epoch)
        except MediaError as exc:
            if self.on_bad_sample == 'error':
                raise
            return self._replace_bad_sample(idx, epoch, exc)

    def _load_sample(self, idx: int, epoch: int) -> dict:
        results = self.get_data_info(idx)
        results['epoch'] = epoch
        results['rng'] = sample_rng(self.seed, epoch, idx)
        data = self.pipeline(results)
        if data is None:
            raise RuntimeError(f'{type(self).__name__}: the pipeline returned None for sample '
                               f'{idx} (video {results.get("video_id")!r}, frame '
                               f'{results.get("frame_index")})')
        return data

    # ---------------------------------------------------------------- bad samples
    def _replace_bad_sample(self, idx: int, epoch: int, exc: MediaError) -> dict:
        """Sample ``idx`` failed to load: record it and return a seeded other sample."""
        self._record_bad_sample(idx, exc)
        n = len(self)
        rng = np.random.default_rng([self.seed, int(epoch), int(idx), 0xBAD])
        for _ in range(_REPLACEMENT_TRIES):
            other = int(rng.integers(n))
            if other == idx:
                continue
            try:
                return self._load_sample(other, epoch)
            except MediaError as again:
                self._record_bad_sample(other, again)
        raise BadSampleBudgetError(f'{type(self).__name__}: sample {idx} ({exc}) and '
                                   f'{_REPLACEMENT_TRIES} replacement candidates failed to load')

    def _record_bad_sample(self, idx: int, exc: MediaError) -> None:
        """Count sample ``idx`` once, log its file once; raise when over the budget."""
        assert self._bad_dir is not None
        os.makedirs(self._bad_dir, exist_ok=True)
        for name in (f'sample_{idx}',
                     'file_' + hashlib.sha1(exc.path.encode()).hexdigest()[:20]):
            try:
                fd = os.open(os.path.join(self._bad_dir, name), os.O_CREAT | os.O_EXCL |
                             os.O_WRONLY)
            except FileExistsError:
                continue
            with os.fdopen(fd, 'w') as f:
                f.write(f'{exc.path}\t{exc.video_id}\t{exc.frame}\n')
            if name.startswith('file_'):
                print_log(f'{type(self).__name__}: skipping samples that need {exc.path} '
                          f'(video {exc.video_id!r}, frame {exc.frame}): {exc} '
                          "(on_bad_sample='skip'; they are replaced by other samples)",
                          logger='current', level=logging.WARNING)
        bad = sorted(n for n in os.listdir(self._bad_dir) if n.startswith('sample_'))
        if len(bad) > self.max_bad_samples:
            files = []
            for name in sorted(n for n in os.listdir(self._bad_dir) if n.startswith('file_')):
                with open(os.path.join(self._bad_dir, name)) as f:
                    files.append(f.read().split('\t')[0])
            raise BadSampleBudgetError(
                f'{type(self).__name__}: {len(bad)} samples failed to load, more than '
                f'max_bad_samples={self.max_bad_samples}; bad files ({len(files)}): '
                f'{files[:20]}{" ..." if len(files) > 20 else ""}. Check the media with '
                'tools/data/check_media.py')

    def bad_sample_count(self) -> int:
        """Distinct samples that failed to load so far (``on_bad_sample='skip'``)."""
        if self._bad_dir is None or not os.path.isdir(self._bad_dir):
            return 0
        return sum(n.startswith('sample_') for n in os.listdir(self._bad_dir))

    def video_ids(self) -> List[str]:
        """Ids of the videos, in sample order."""
        return [self._video_info(i)['video_id'] for i in range(self.num_videos)]

    def get_subset_(self, indices: Union[Sequence[int], int]) -> None:
        raise NotImplementedError(f'{type(self).__name__} does not support subsets: select '
                                  'videos with include/exclude lists instead')

    def get_subset(self, indices: Union[Sequence[int], int]) -> 'BaseDataset':
        raise NotImplementedError(f'{type(self).__name__} does not support subsets: select '
                                  'videos with include/exclude lists instead')

