"""Online (causal) surgical phase recognition dataset (spec §7, dataset-formats.md §1-5)."""
from __future__ import annotations

import logging
import functools
import os.path as osp
import re
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import print_log

from surgvista_mm.registry import DATASETS
from .base_clip_dataset import BaseFrameClipDataset
from .manifest import (VideoEntry, join_data_root, load_manifest, native_index, read_id_list,
                       select_entries)
from surgvista_mm.utils.io import read_text
from .phase_labels import (DEFAULT_LABEL_FILES, LABEL_FORMATS, NATIVE_FRAME_FORMATS, add_row,
                           read_phase_labels, sample_rows)

CHOLEC80_PHASES = ('Preparation', 'CalotTriangleDissection', 'ClippingCutting',
                   'GallbladderDissection', 'GallbladderPackaging', 'CleaningCoagulation',
                   'GallbladderRetraction')
_SPLIT = re.compile(r'\t|,|;|\s+')


def _is_header(line: str) -> bool:
    """A header line: its first field is not a frame number (``Frame\tPhase``)."""
    parts = _SPLIT.split(line.strip(), maxsplit=1)
    return not re.fullmatch(r'-?\d+', parts[0])


def read_phase_file(path: str, classes: Sequence[str], label_fps: float = 25.0,
                    first_frame: int = 0, int_base: int = 0, header: Optional[bool] = None,
                    num_frames: Optional[int] = None) -> np.ndarray:
    """Per-1-fps-frame class ids from a phase annotation file.

    Each data line is ``<frame><sep><phase>`` (sep: tab, comma, semicolon or spaces; the phase
    may contain spaces). ``<phase>`` is a class name from ``classes`` or an integer id
    (``id - int_base``). 1-fps frame ``k`` takes the row whose frame number is
    ``round(k * label_fps) + first_frame`` (Cholec80 / M2CAI16: 25, 0; AutoLaparo: 1, 1;
    PmLR50: 1, 0).

    Args:
        path: the annotation file.
        classes: class names; their positions are the class ids.
        label_fps: rows per second of video.
        first_frame: frame number of the row at time 0.
        int_base: value of class 0 when phases are integers.
        header: None (default): the first non-empty line is a header when its first field is
            not a frame number (recognised by content, so a file without its header line loses
            no row); True: that line must be a header; False: there is no header line.
        num_frames: number of 1-fps frames wanted (None: as many as the file covers).

    Returns:
        int64 array ``[num_frames]`` (shorter when the file ends first).

    Raises:
        ValueError: naming ``file:line`` for a malformed row or a frame given twice with
            different labels; the file when it holds no row, has a gap (a missing row followed
            by later rows) or is not UTF-8.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'phase annotation file not found: {path}')
    index = {name: i for i, name in enumerate(classes)}
    rows: Dict[int, int] = {}
    lines_of: Dict[int, int] = {}
    lines = read_text(path).splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    if numbered and header is not False and _is_header(numbered[0][1]):
        numbered = numbered[1:]
    elif numbered and header is True:
        raise ValueError(f'{path}:{numbered[0][0]}: expected a header line (label_header=True), '
                         f'got the data row {numbered[0][1]!r}')
    if not numbered:
        raise ValueError(f'{path}: the phase annotation file holds no label rows'
                         + (' (it is empty)' if not lines else ''))
    for lineno, line in numbered:
        parts = _SPLIT.split(line.strip(), maxsplit=1)
        if len(parts) != 2:
            raise ValueError(f'{path}:{lineno}: expected "<frame> <phase>", got {line!r}')
        frame, phase = parts[0], parts[1].strip()
        if phase in index:
            label = index[phase]
        elif re.fullmatch(r'-?\d+', phase) and 0 <= int(phase) - int_base < len(classes):
            label = int(phase) - int_base
        else:
            raise ValueError(f'{path}:{lineno}: unknown phase {phase!r} (classes: '
                             f'{list(classes)}, int_base {int_base})')
        try:
            number = int(frame)
        except ValueError as e:
            raise ValueError(f'{path}:{lineno}: bad frame number {frame!r}') from e
        add_row(rows, lines_of, number, label, path, lineno, classes)
    return sample_rows(rows, lambda k: native_index(k, label_fps) + first_frame, num_frames,
                       path, f' (rows sampled at label_fps={label_fps:g}, label_first_frame='
                             f'{first_frame})')


def video_fps(path: str) -> float:
    """Native frame rate of a video file (decord's average fps)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'video file not found (its fps is needed for its labels): '
                                f'{path}')
    import decord  # imported here: only video sources need it
    return float(decord.VideoReader(path).get_avg_fps())


@DATASETS.register_module()
class SurgicalPhaseDataset(BaseFrameClipDataset):
    """Phase recognition, online protocol: sample = frame t, clip = [t-60, ..., t], label of t.

    Videos come from a manifest (frame folders or video files, see ``manifest.py``); labels from
    ``label_dir/label_file_tmpl.format(video_id=..., num=...)`` where ``num`` is the integer in
    the video id (e.g. ``'label_{num:02d}.txt'`` for AutoLaparo), read as ``label_format`` says.
    Frames past the end of the labels are dropped (logged); frames before the first labelled one
    (Cataract-101) are no samples but still clip context; the split is chosen with ``include`` /
    ``exclude`` id lists (or files). ``results`` carry ``gt_label`` (int) besides the keys of
    ``SurgicalPretrainDataset``; the metainfo holds ``classes``.

    Args:
        manifest: manifest of the videos.
        label_dir: folder of the annotation files; None for videos without annotations (every
            frame is a sample without ``gt_label``: inference, feature extraction).
        classes: class names in id order (default: the 7 Cholec80 phases).
        label_file_tmpl: annotation file name, formatted with ``video_id`` and ``num`` (None:
            the format's default, ``phase_labels.DEFAULT_LABEL_FILES``; for ``'frame_phase'``
            ``'{video_id}-phase.txt'``).
        label_fps: ``'frame_phase'``: annotation rows per second (25 for Cholec80 / M2CAI16, 1
            for AutoLaparo); ``'cataract101'`` / ``'cataract21'``: the native frame rate used
            when neither the manifest nor the video file gives one (25 for both).
        label_first_frame: ``'frame_phase'`` only: frame number of the first row (1 for
            AutoLaparo).
        label_int_base: ``'frame_phase'`` only: value of class 0 for integer phases (1 for
            AutoLaparo).
        label_header: ``'frame_phase'`` only: None (default) recognises a header line by its
            content; True / False: the files do / do not start with one (see
            ``read_phase_file``).
        strict_labels: a video whose labels cover only part of its frames is an error (default:
            a WARNING at dataset build, listing each such video and the total).
        label_format: how the annotation files are read: ``'frame_phase'`` (default,
            ``read_phase_file``: Cholec80, M2CAI16, AutoLaparo), or an official format of
            ``surgvista_mm.datasets.phase_labels``: ``'cataracts'`` (per native frame, needs the
            video's fps from the manifest or the file), ``'cataract101'`` (one shared
            ``annotations.csv``), ``'cataract21'``, ``'pmlr50'``.
        include, exclude: video ids (lists or id-list files).
        data_root: prefix for relative ``manifest``/``label_dir``/id-list paths; the manifest's
            videos are resolved as the manifest says.
        clip_len, frame_interval, pipeline, seed, test_mode, lazy_init, on_bad_sample,
            max_bad_samples: see ``BaseFrameClipDataset``.
    """

    def __init__(self, manifest: str, label_dir: Optional[str],
                 classes: Sequence[str] = CHOLEC80_PHASES,
                 label_file_tmpl: Optional[str] = '{video_id}-phase.txt',
                 label_fps: float = 25.0, label_first_frame: int = 0, label_int_base: int = 0,
                 label_header: Optional[bool] = None, label_format: str = 'frame_phase',
                 strict_labels: bool = False,
                 include: Union[None, str, Sequence[str]] = None,
                 exclude: Union[None, str, Sequence[str]] = None,
                 data_root: Optional[str] = None, clip_len: int = 16, frame_interval: int = 4,
                 pipeline: Sequence[Union[dict, Callable]] = (), seed: int = 0,
                 test_mode: bool = False, lazy_init: bool = False,
                 on_bad_sample: str = 'error', max_bad_samples: int = 100) -> None:
        join = functools.partial(join_data_root, data_root)
        self.manifest = join(manifest)
        self.label_dir = join(label_dir)
        self.classes = tuple(classes)
        if label_format not in ('frame_phase',) + LABEL_FORMATS:
            raise ValueError(f'{type(self).__name__}: unknown label_format {label_format!r}; '
                             f'expected one of {("frame_phase",) + LABEL_FORMATS}')
        self.label_format = label_format
        self.label_file_tmpl = (DEFAULT_LABEL_FILES[label_format] if label_file_tmpl is None
                                else label_file_tmpl)
        self.label_fps = float(label_fps)
        self.label_first_frame = int(label_first_frame)
        self.label_int_base = int(label_int_base)
        self.label_header = None if label_header is None else bool(label_header)
        self.strict_labels = bool(strict_labels)
        self.include = read_id_list(join(include), f'include list of {manifest}')
        self.exclude = read_id_list(join(exclude), f'exclude list of {manifest}')
        super().__init__(clip_len=clip_len, frame_interval=frame_interval, pipeline=pipeline,
                         seed=seed, test_mode=test_mode, lazy_init=lazy_init,
                         on_bad_sample=on_bad_sample, max_bad_samples=max_bad_samples)
        self._metainfo['classes'] = self.classes

    def load_data_list(self) -> List[dict]:
        """One dict per video, with its per-frame labels (``labels``, int64 ``[num_frames]``)."""
        if self.label_dir is None:
            return self._load_unlabelled()
        if not osp.isdir(self.label_dir):
            raise FileNotFoundError(f'{type(self).__name__}: label_dir not found: '
                                    f'{self.label_dir}')
        entries = select_entries(load_manifest(self.manifest), self.include, self.exclude, 1,
                                 self.manifest)
        videos = []
        partial = []  # (video id, labelled frames, frames, file)
        for e in entries:
            num = re.findall(r'\d+', e.video_id)
            name = self.label_file_tmpl.format(video_id=e.video_id,
                                               num=int(num[-1]) if num else 0)
            path = osp.join(self.label_dir, name)
            try:
                labels = self._read_labels(path, e)
            except FileNotFoundError as err:
                raise FileNotFoundError(f'labels of video {e.video_id!r}: {err}') from err
            labelled = np.flatnonzero(labels >= 0)
            if len(labelled) == 0:
                raise ValueError(
                    f'labels of video {e.video_id!r}: {path} labels none of its {e.num_frames} '
                    '1-fps frames (check label_fps / label_first_frame / label_format against '
                    'the file)')
            if len(labels) < e.num_frames:
                partial.append((e.video_id, len(labels), e.num_frames, path))
            start = int(labelled[0])
            if len(labelled) != len(labels) - start:
                raise ValueError(f'labels of video {e.video_id!r} ({path}): only a prefix of '
                                 f'the frames may be unlabelled')
            if start:
                print_log(f'video {e.video_id!r}: its first {start} frames are unlabelled and '
                          f'serve only as clip context', logger='current')
            info = e.to_results()
            info['total_frames'] = len(labels)
            info['sample_start'] = start
            info['labels'] = labels
            videos.append(info)
        if partial:
            self._report_partial_labels(partial)
        if not videos:
            raise ValueError(f'{type(self).__name__}: no labelled video in {self.manifest}')
        return videos

    def _load_unlabelled(self) -> List[dict]:
        """One dict per video of the manifest, every frame a sample, no labels."""
        entries = select_entries(load_manifest(self.manifest), self.include, self.exclude, 1,
                                 self.manifest)
        videos = []
        for e in entries:
            info = e.to_results()
            info['total_frames'] = e.num_frames
            videos.append(info)
        if not videos:
            raise ValueError(f'{type(self).__name__}: no video in {self.manifest}')
        return videos

    def _report_partial_labels(self, partial: List[tuple]) -> None:
        """WARNING (``strict_labels``: error) listing videos whose labels end before the video."""
        lines = [f'  {vid}: {n} of {total} frames labelled ({path})'
                 for vid, n, total, path in partial]
        dropped = sum(total - n for _, n, total, _ in partial)
        msg = (f'{type(self).__name__} ({self.manifest}): the labels of {len(partial)} video(s) '
               f'end before the video; {dropped} unlabelled frames in total are no samples:\n'
               + '\n'.join(lines))
        if self.strict_labels:
            raise ValueError(msg + '\n(strict_labels=True)')
        print_log(msg, logger='current', level=logging.WARNING)

    def _read_labels(self, path: str, entry: VideoEntry) -> np.ndarray:
        """Per-1-fps-frame class ids of one video (-1: unlabelled) in ``label_format``."""
        if self.label_format == 'frame_phase':
            return read_phase_file(path, self.classes, self.label_fps, self.label_first_frame,
                                   self.label_int_base, self.label_header, entry.num_frames)
        fps = entry.fps
        if fps is None and entry.video is not None and self.label_format in NATIVE_FRAME_FORMATS:
            fps = video_fps(entry.video)
        return read_phase_labels(self.label_format, path, self.classes, entry.video_id,
                                 entry.num_frames, fps, self.label_fps)

    def add_frame_annotation(self, info: dict, t: int) -> dict:
        """Label of frame ``t`` as ``gt_label`` (the per-video array is removed)."""
        labels = info.pop('labels', None)
        if labels is not None:
            info['gt_label'] = int(labels[t])
        return info
