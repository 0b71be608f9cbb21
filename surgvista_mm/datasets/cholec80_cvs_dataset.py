"""Cholec80-CVS: one clip per annotated segment (dataset-formats.md §8; the paper's variant).

Confirmed by the format notes: the workbook columns ``video``, ``initial_minute``,
``initial_second``, ``final_minute``, ``final_second``, ``two_structures``, ``cystic_plate``,
``hepatocystic_triangle`` (each 0/1/2); segments are inclusive intervals on the video timeline.
Not confirmed: the column order (columns are read by name), the sheet file name. The paper's label
is the sum of the three criteria (0-5; score 6 dropped); videos 1-40 train, 41-80 test.
Not done: truncating segments at the first ``ClippingCutting`` frame (official code does; needs
the phase labels); segments are only clamped to the video's length.
"""
from __future__ import annotations

import csv
import functools
import os.path as osp
import re
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import print_log

from surgvista_mm.registry import DATASETS
from .base_clip_dataset import BaseFrameClipDataset
from .cvs_dataset import uniform_indices
from .manifest import join_data_root, load_manifest, select_entries

CHOLEC80_CVS_COLUMNS = ('video', 'initial_minute', 'initial_second', 'final_minute',
                        'final_second', 'two_structures', 'cystic_plate', 'hepatocystic_triangle')
CHOLEC80_CVS_SPLIT = dict(train=tuple(range(1, 41)), test=tuple(range(41, 81)))


def _read_rows(path: str) -> List[Dict[str, object]]:
    """Rows of the sheet as dicts (a ``.csv`` export, or ``.xlsx`` when openpyxl exists)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Cholec80-CVS annotation file not found: {path}')
    if path.lower().endswith(('.xlsx', '.xlsm')):
        try:
            import openpyxl
        except ImportError as e:
            raise ImportError(f'reading {path} needs openpyxl; install it or export the sheet '
                              'to CSV (same column names) and pass the .csv') from e
        sheet = openpyxl.load_workbook(path, read_only=True, data_only=True).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        header = [str(c).strip() if c is not None else '' for c in (rows[0] if rows else ())]
        return [dict(zip(header, r)) for r in rows[1:] if any(c is not None for c in r)]
    with open(path, encoding='utf-8-sig', newline='') as f:
        reader = csv.DictReader(f)
        reader.fieldnames = [n.strip() for n in reader.fieldnames or ()]
        return [r for r in reader if any(str(v or '').strip() for v in r.values())]


def read_cholec80_cvs(path: str) -> List[dict]:
    """Segments of the Cholec80-CVS sheet: dicts ``video`` (int), ``start``/``end`` (seconds,
    inclusive) and ``criteria`` (int ``[3]``: two_structures, cystic_plate, hepatocystic_triangle,
    each 0-2). Rows are kept in file order; a non-numeric or out-of-range cell is an error naming
    the file and row (the header is row 1)."""
    rows = _read_rows(path)
    if rows:
        missing = set(CHOLEC80_CVS_COLUMNS) - set(rows[0])
        if missing:
            raise ValueError(f'{path}: missing columns {sorted(missing)}')
    out = []
    for lineno, row in enumerate(rows, start=2):
        try:
            video = int(re.findall(r'\d+', str(row['video']))[-1])
            vals = [int(float(str(row[c]).strip())) for c in CHOLEC80_CVS_COLUMNS[1:]]
        except (IndexError, TypeError, ValueError) as e:
            raise ValueError(f'{path}: row {lineno}: malformed segment {row!r}') from e
        criteria = np.asarray(vals[4:], dtype=np.int64)
        if criteria.min() < 0 or criteria.max() > 2:
            raise ValueError(f'{path}: row {lineno}: criteria must be 0, 1 or 2, got '
                             f'{criteria.tolist()}')
        out.append(dict(video=video, start=vals[0] * 60 + vals[1], end=vals[2] * 60 + vals[3],
                        criteria=criteria))
    return out


@DATASETS.register_module()
class Cholec80CVSDataset(BaseFrameClipDataset):
    """Cholec80-CVS, 6-class clip task: one sample per segment, label = sum of the criteria.

    The clip is ``clip_len`` 1-fps frames spread uniformly over the segment (bin centres, the
    same in every epoch), taken from the Cholec80 videos of ``manifest`` (frame folders or video
    files, ids ``video_id_tmpl.format(n)``). Segments scoring 6 are dropped (paper), as are rows
    with end < start (a few exist) and segments starting past the video; ends are clamped to the
    last frame (all logged). ``gt_label`` int 0-5; metainfo ``video_id``, ``frame_index`` (the
    segment's first second), ``segment_index`` (row order within the video).

    Args:
        ann_file: the sheet (``.csv`` export or ``.xlsx``).
        manifest: manifest of the Cholec80 videos (see ``manifest.py``).
        split: ``'train'`` (videos 1-40) or ``'test'`` (41-80); exclusive with ``videos``.
        videos: video numbers.
        video_id_tmpl: manifest id of video number n.
        data_root: prefix of relative ``ann_file`` / ``manifest``.
        clip_len: frames per clip (16).
        pipeline, seed, test_mode, lazy_init, on_bad_sample, max_bad_samples: see
            ``BaseFrameClipDataset``.
    """

    def __init__(self, ann_file: str, manifest: str, split: Optional[str] = None,
                 videos: Optional[Sequence[int]] = None, video_id_tmpl: str = 'video{:02d}',
                 data_root: Optional[str] = None, clip_len: int = 16,
                 pipeline: Sequence[Union[dict, Callable]] = (), seed: int = 0,
                 test_mode: bool = False, lazy_init: bool = False,
                 on_bad_sample: str = 'error', max_bad_samples: int = 100) -> None:
        if (split is None) == (videos is None):
            raise ValueError('give exactly one of split and videos')
        if split is not None and split not in CHOLEC80_CVS_SPLIT:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        join = functools.partial(join_data_root, data_root)
        self.sheet_file, self.manifest = join(ann_file), join(manifest)
        self.videos = [int(v) for v in (CHOLEC80_CVS_SPLIT[split] if split else videos)]
        self.video_id_tmpl = video_id_tmpl
        super().__init__(clip_len=clip_len, frame_interval=1, pipeline=pipeline, seed=seed,
                         test_mode=test_mode, lazy_init=lazy_init,
                         on_bad_sample=on_bad_sample, max_bad_samples=max_bad_samples)
        self._metainfo['num_classes'] = 6

    def load_data_list(self) -> List[dict]:
        """One dict per video with ``segments`` int64 ``[S, 2]`` (1-fps frames, inclusive) and
        ``labels`` int64 ``[S]``."""
        segs = read_cholec80_cvs(self.sheet_file)
        entries = {e.video_id: e for e in load_manifest(self.manifest)}
        wanted = [self.video_id_tmpl.format(n) for n in self.videos]
        entries = {e.video_id: e for e in select_entries(
            list(entries.values()), [w for w in wanted if w in entries], None, 1, self.manifest)}
        dropped: Dict[str, int] = dict(score6=0, reversed=0, past_end=0, no_video=0)
        videos = []
        for n, vid in zip(self.videos, wanted):
            rows = [s for s in segs if s['video'] == n]
            if rows and vid not in entries:
                dropped['no_video'] += len(rows)
                continue
            kept, labels = [], []
            for s in rows:
                score = int(s['criteria'].sum())
                last = entries[vid].num_frames - 1
                if score == 6:
                    dropped['score6'] += 1
                elif s['end'] < s['start']:
                    dropped['reversed'] += 1
                elif s['start'] > last:
                    dropped['past_end'] += 1
                else:
                    kept.append((s['start'], min(s['end'], last)))
                    labels.append(score)
            if kept:
                info = entries[vid].to_results()
                info.update(total_frames=len(kept), segments=np.asarray(kept, dtype=np.int64),
                            labels=np.asarray(labels, dtype=np.int64))
                videos.append(info)
        if any(dropped.values()):
            print_log(f'Cholec80-CVS {self.sheet_file}: dropped segments {dropped}',
                      logger='current')
        if not videos:
            raise ValueError(f'{type(self).__name__}: no usable segment of videos '
                             f'{self.videos[:3]}... in {self.sheet_file}')
        return videos

    def add_frame_annotation(self, info: dict, t: int) -> dict:
        """Segment ``t`` of the video: its uniformly sampled clip and summed score."""
        start, end = (int(x) for x in info.pop('segments')[t])
        info['frame_inds'] = uniform_indices(start, end, self.clip_len)
        info['frame_index'] = start
        info['segment_index'] = t
        info['gt_label'] = int(info.pop('labels')[t])
        return info
