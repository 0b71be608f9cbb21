"""Converters of the cataract releases (CATARACTS, Cataract-101, Cataract-21) and
SurgicalActions160 (layouts: dataset-formats.md §4, §7)."""
from __future__ import annotations

import os.path as osp
from typing import Dict, List, Optional

from surgvista_mm.datasets.action_dataset import (SURGICAL_ACTIONS160_CLASSES,
                                                  list_surgical_actions160,
                                                  surgical_actions160_split)
from surgvista_mm.datasets.manifest import num_frames_at_1fps
from surgvista_mm.datasets.phase_labels import (CATARACT21_ALIASES, CATARACT21_PHASES,
                                                CATARACTS_STEPS,
                                                cataract101_split, seeded_split)
from .common import (Plan, ReleaseError, VideoResolver, check_length, fail, find_files,
                     read_label_rows, read_lines, split_ids, to_int, write_splits)

CATARACTS_VAL = (1, 7, 14, 16, 19)

CATARACTS_EXPECTS = """\
cataracts: ROOT = the folder holding videos/ and ground_truth/ (videos.zip, ground_truth.zip)
  videos/micro/{train,test}NN.mp4                              (~29.2 fps, per video)
  ground_truth/CATARACTS_2020/{train_gt,dev_gt,test_gt}/<video>.csv
      header "Frame,Steps", one row per native frame, Frame 1-based contiguous, Steps 0..18
  -> manifests/cataracts.json (with each video's fps), ground_truth/CATARACTS_2020/...,
     splits/{train (train01-25), val (dev_gt: test01, 07, 14, 16, 19), test (the other 20)}.txt"""


def convert_cataracts(root: str, frames: Optional[str] = None, tolerance: int = 1) -> Plan:
    videos = find_files(osp.join(root, 'videos', 'micro'), r'(train|test)\d+\.mp4',
                        'CATARACTS micro videos')
    resolver = VideoResolver(frames)
    gt_root = osp.join(root, 'ground_truth', 'CATARACTS_2020')
    plan = Plan()
    entries = []
    for vid, path in sorted(videos.items()):
        num = int(vid[-2:])
        folder = 'train_gt' if vid.startswith('train') else (
            'dev_gt' if num in CATARACTS_VAL else 'test_gt')
        v = resolver.video(vid, path)
        if v.fps is None:
            raise ReleaseError(f'{path}: the native fps is needed (CATARACTS labels are per '
                               'native frame)')
        ann = osp.join(gt_root, folder, f'{vid}.csv')
        ids, last = read_label_rows(ann, ',', CATARACTS_STEPS, header=('Frame', 'Steps'),
                                    first=1, int_base=0)
        check_length(v, ann, last, len(ids), None, tolerance)
        plan.copy(ann, f'ground_truth/CATARACTS_2020/{folder}/{vid}.csv')
        entries.append(v.entry)
    plan.manifest('manifests/cataracts.json', 'cataracts', entries)
    lists = dict(train=[f'train{i:02d}' for i in range(1, 26)],
                 val=[f'test{i:02d}' for i in CATARACTS_VAL],
                 test=[f'test{i:02d}' for i in range(1, 26) if i not in CATARACTS_VAL])
    write_splits(plan, split_ids(list(videos), lists), 'CATARACTS official split')
    return plan


CATARACT101_EXPECTS = """\
cataract101: ROOT = the cataract-101 folder
  videos/case_<id>.mp4          25 fps
  videos.csv                    ";"-separated, header; id;frames;fps;surgeon;experience
  phases.csv                    ";"-separated, header; phase id (1..10);name
  annotations.csv               ";"-separated, header; video id;0-based start frame;phase id
  -> manifests/cataract101.json (ids case_<id>), videos.csv, phases.csv, annotations.csv,
     splits/{train, val, test}.txt: the project's seeded 50 / 10 / 41 split of the 101 videos
     (phase_labels.cataract101_split; no official split; a partial release gets a seeded split
     of the same proportions, reported)"""


def _semicolon_rows(path: str, ncols: int) -> List[tuple]:
    rows = []
    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        parts = line.split(';')
        if lineno == 1 and not parts[0].strip().lstrip('-').isdigit():
            continue  # header
        if len(parts) < ncols:
            raise fail(path, lineno, f'expected {ncols} ";"-separated columns, got {line!r}')
        rows.append((lineno, [p.strip() for p in parts]))
    return rows


def convert_cataract101(root: str, frames: Optional[str] = None, tolerance: int = 1) -> Plan:
    videos = find_files(osp.join(root, 'videos'), r'case_\d+\.mp4', 'Cataract-101 videos')
    meta_path = osp.join(root, 'videos.csv')
    phases_path = osp.join(root, 'phases.csv')
    ann_path = osp.join(root, 'annotations.csv')
    meta: Dict[int, tuple] = {}
    for lineno, p in _semicolon_rows(meta_path, 3):
        try:
            fps = float(p[2])
        except ValueError:
            raise fail(meta_path, lineno, f'bad fps {p[2]!r}') from None
        meta[to_int(p[0], meta_path, lineno, 'video id')] = (
            to_int(p[1], meta_path, lineno, 'frame count'), fps, lineno)
    names = {to_int(p[0], phases_path, ln, 'phase id'): p[1]
             for ln, p in _semicolon_rows(phases_path, 2)}
    if sorted(names) != list(range(1, 11)):
        raise fail(phases_path, None, f'expected phase ids 1..10, got {sorted(names)}')
    resolver = VideoResolver(frames)
    plan = Plan()
    entries = []
    by_num = {int(vid.split('_')[1]): (vid, path) for vid, path in videos.items()}
    for num in sorted(meta):
        if num not in by_num:
            raise fail(meta_path, meta[num][2], f'video {num} has no file '
                                                f'videos/case_{num}.mp4')
    starts: Dict[int, int] = {}
    for lineno, p in _semicolon_rows(ann_path, 3):
        num = to_int(p[0], ann_path, lineno, 'video id')
        start = to_int(p[1], ann_path, lineno, 'frame number')
        phase = to_int(p[2], ann_path, lineno, 'phase')
        if num not in meta:
            raise fail(ann_path, lineno, f'video {num} is not in {meta_path}')
        if phase not in names:
            raise fail(ann_path, lineno, f'unknown phase {phase} (expected 1..10)')
        if start >= meta[num][0]:
            raise fail(ann_path, lineno, f'start frame {start} past the {meta[num][0]} frames '
                                         f'of video {num}')
        if num in starts and start <= starts[num]:
            raise fail(ann_path, lineno, f'start frame {start} of video {num} does not follow '
                                         'the previous row')
        starts[num] = start
    for num, (vid, path) in sorted(by_num.items()):
        if num not in meta:
            raise ReleaseError(f'{path}: video {num} is not in {meta_path}')
        if num not in starts:
            raise fail(ann_path, None, f'no annotation rows for video {num}')
        v = resolver.video(vid, path)
        n, fps, lineno = meta[num]
        if abs(num_frames_at_1fps(n, fps) - v.num_frames) > tolerance:
            native = f', {v.native_frames} frames' if v.native_frames else ''
            raise fail(meta_path, lineno, f'{n} frames at {fps} fps disagree with the video '
                                          f'{path} ({v.num_frames} s{native})')
        entries.append(v.entry)
    for name in ('videos.csv', 'phases.csv', 'annotations.csv'):
        plan.copy(osp.join(root, name), name)
    plan.manifest('manifests/cataract101.json', 'cataract101', entries)
    ids = [f'case_{n}' for n in sorted(by_num)]
    if len(ids) == 101:
        train, val, test = cataract101_split(ids)
        note = 'Cataract-101, seeded 50/10/41 split (phase_labels.cataract101_split, seed 0)'
    else:
        n_train, n_val = round(len(ids) * 50 / 101), round(len(ids) * 10 / 101)
        train, val, test = seeded_split(ids, (n_train, n_val, len(ids) - n_train - n_val))
        note = (f'Cataract-101 partial release ({len(ids)} of 101 videos): seeded split of the '
                'same proportions (NOT the project split)')
        plan.notes.append(note)
    write_splits(plan, dict(train=train, val=val, test=test), note)
    return plan


CATARACT21_EXPECTS = """\
cataract21: ROOT = the cataract-21 folder (sub-folder names are not confirmed: case_NN.mp4 and
  case_NN.csv are searched anywhere under ROOT, e.g. videos/ and labels/)
  case_NN.mp4                   25 fps
  case_NN.csv                   no header, "<frame>,<PhaseName>" for every native frame, 0-based,
                                German names (not_initialized, Incision, ..., Antibiotikum)
  -> manifests/cataract21.json (ids case_NN), labels/case_NN.csv,
     splits/{train (01-14), val (15-17), test (18-21)}.txt"""


def convert_cataract21(root: str, frames: Optional[str] = None, tolerance: int = 1) -> Plan:
    videos = find_files(root, r'case_\d+\.mp4', 'Cataract-21 videos')
    labels = find_files(root, r'case_\d+\.csv', 'Cataract-21 label files')
    resolver = VideoResolver(frames)
    plan = Plan()
    entries = []
    for vid, path in sorted(videos.items()):
        if vid not in labels:
            raise ReleaseError(f'missing file: {vid}.csv (labels of {path})')
        v = resolver.video(vid, path)
        ids, last = read_label_rows(labels[vid], ',', CATARACT21_PHASES,
                                    aliases=dict(CATARACT21_ALIASES))
        check_length(v, labels[vid], last, len(ids), None, tolerance)
        plan.copy(labels[vid], f'labels/{vid}.csv')
        entries.append(v.entry)
    for vid, path in labels.items():
        if vid not in videos:
            raise ReleaseError(f'{path}: no video {vid}.mp4 for these labels')
    plan.manifest('manifests/cataract21.json', 'cataract21', entries)
    lists = dict(train=[f'case_{i:02d}' for i in range(1, 15)],
                 val=[f'case_{i:02d}' for i in range(15, 18)],
                 test=[f'case_{i:02d}' for i in range(18, 22)])
    write_splits(plan, split_ids(list(videos), lists),
                 'Cataract-21 (official validation part = test; val carved from training)')
    return plan


SURGICALACTIONS160_EXPECTS = """\
surgicalactions160: ROOT = the folder holding the 16 class folders
  CC_name/CC_MM.mp4             (01_abdominal_access ... 16_endobag-out; CC = class, MM 01..10)
  -> manifests/surgicalactions160.json (ids CC_MM), splits/{train, test}.txt (seeded class-
     stratified 7 / 3 per class, surgical_actions160_split seed 0). SurgicalActions160Dataset
     reads ROOT in place."""


def convert_surgicalactions160(root: str, frames: Optional[str] = None,
                               tolerance: int = 0) -> Plan:
    try:
        clips = list_surgical_actions160(root)
    except (FileNotFoundError, ValueError) as e:
        raise ReleaseError(str(e)) from e
    folders = {c.split('/')[0] for c in clips}
    for folder in folders:
        cls = int(folder[:2])
        if not 1 <= cls <= 16 or folder[3:] != SURGICAL_ACTIONS160_CLASSES[cls - 1]:
            raise ReleaseError(f'{osp.join(root, folder)}: unknown class folder (expected '
                               f'NN_name with the 16 official names)')
    resolver = VideoResolver(frames)
    plan = Plan()
    entries = []
    for rel in clips:
        vid = osp.splitext(osp.basename(rel))[0]
        entries.append(resolver.video(vid, osp.join(root, rel)).entry)
    plan.manifest('manifests/surgicalactions160.json', 'surgicalactions160', entries)
    try:
        split = surgical_actions160_split(clips)
    except ValueError as e:
        raise ReleaseError(f'{root}: {e}') from e
    write_splits(plan, {k: [osp.splitext(osp.basename(c))[0] for c in v]
                        for k, v in split.items() if k != 'val'},
                 'SurgicalActions160, seeded stratified split (seed 0)')
    return plan
