"""Converters of the laparoscopic releases: Cholec80, M2CAI16-Workflow, AutoLaparo, PmLR50,
CholecT50, Endoscapes2023, Cholec80-CVS (layouts: dataset-formats.md §1-3, 5, 6, 8, 9)."""
from __future__ import annotations

import csv
import io
import os
import os.path as osp
import re
from typing import Dict, List, Optional

import numpy as np

from surgvista_mm.datasets.cholec80_cvs_dataset import CHOLEC80_CVS_COLUMNS, read_cholec80_cvs
from surgvista_mm.datasets.cholect50_dataset import ALL_VIDEOS, CHALLENGE_SPLIT, challenge_split
from surgvista_mm.datasets.cvs_dataset import (read_endoscapes_coco, read_endoscapes_metadata,
                                               read_vids_file)
from surgvista_mm.datasets.phase_dataset import CHOLEC80_PHASES
from surgvista_mm.datasets.phase_labels import PMLR50_PHASES
from surgvista_mm.evaluation.functional.triplet import load_triplet_map
from surgvista_mm.utils.io import read_json
from .common import (Plan, ReleaseError, VideoResolver, check_header, check_length, fail,
                     find_files, frame_folder, read_label_rows, read_lines, split_ids, to_int,
                     write_splits)

CHOLEC80_TOOLS = ('Grasper', 'Bipolar', 'Hook', 'Scissors', 'Clipper', 'Irrigator',
                  'SpecimenBag')
M2CAI16_PHASES = ('TrocarPlacement',) + CHOLEC80_PHASES
AUTOLAPARO_PHASES = ('Preparation', 'Dividing Ligament and Peritoneum',
                     'Dividing Uterine Vessels and Ligament', 'Transecting the Vagina',
                     'Specimen Removal', 'Suturing', 'Washing')
CHOLEC80_PAPER_TEST_DROP = (73, 77, 78, 79, 80)


def _cholec80_splits() -> Dict[str, List[str]]:
    return dict(train=[f'video{i:02d}' for i in range(1, 33)],
                val=[f'video{i:02d}' for i in range(33, 41)],
                test=[f'video{i:02d}' for i in range(41, 81) if i not in CHOLEC80_PAPER_TEST_DROP],
                test_all=[f'video{i:02d}' for i in range(41, 81)])


def _check_tool_file(path: str, video, tolerance: int) -> None:
    lines = read_lines(path)
    check_header(lines, path, ('Frame',) + CHOLEC80_TOOLS, '\t')
    n = 0
    last = 1
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split('\t')
        if len(parts) != 1 + len(CHOLEC80_TOOLS):
            raise fail(path, lineno, f'expected {1 + len(CHOLEC80_TOOLS)} tab-separated '
                                     f'columns, got {len(parts)}')
        frame = to_int(parts[0], path, lineno, 'frame number')
        if frame != 25 * n:
            raise fail(path, lineno, f'frame {frame} where {25 * n} was expected (one row '
                                     'every 25 frames)')
        for v in parts[1:]:
            if v.strip() not in ('0', '1'):
                raise fail(path, lineno, f'tool presence must be 0 or 1, got {v!r}')
        n += 1
        last = lineno
    check_length(video, path, last, n, 1, tolerance)


CHOLEC80_EXPECTS = """\
cholec80: ROOT = the cholec80 folder of the release
  videos/videoNN.mp4                      25 fps (videoNN-timestamp.txt ignored)
  phase_annotations/videoNN-phase.txt     header "Frame<TAB>Phase", row i = frame i (25 fps),
                                          phase names of the 7 Cholec80 phases
  tool_annotations/videoNN-tool.txt       header "Frame<TAB>Grasper...SpecimenBag", one row every
                                          25 frames, 0/1
  -> manifests/cholec80.json (ids videoNN), phase_annotations/, tool_annotations/,
     splits/{train (1-32), val (33-40), test (41-80 without 73, 77-80), test_all (41-80)}.txt"""


def convert_cholec80(root: str, frames: Optional[str] = None, tolerance: int = 1) -> Plan:
    videos = find_files(osp.join(root, 'videos'), r'video\d+\.mp4', 'Cholec80 videos')
    resolver = VideoResolver(frames)
    plan = Plan()
    entries = []
    for vid, path in sorted(videos.items()):
        v = resolver.video(vid, path)
        phase = osp.join(root, 'phase_annotations', f'{vid}-phase.txt')
        ids, last = read_label_rows(phase, '\t', CHOLEC80_PHASES, header=('Frame', 'Phase'))
        check_length(v, phase, last, len(ids), None, tolerance)
        tool = osp.join(root, 'tool_annotations', f'{vid}-tool.txt')
        _check_tool_file(tool, v, tolerance)
        plan.copy(phase, f'phase_annotations/{vid}-phase.txt')
        plan.copy(tool, f'tool_annotations/{vid}-tool.txt')
        entries.append(v.entry)
    plan.manifest('manifests/cholec80.json', 'cholec80', entries)
    write_splits(plan, split_ids(list(videos), _cholec80_splits()),
                 'Cholec80, configs/_base_/datasets/finetune_cholec80_phase.py')
    return plan


M2CAI16_EXPECTS = """\
m2cai16: ROOT = the folder holding train_dataset/ and test_dataset/
  train_dataset/workflow_video_NN.mp4 + workflow_video_NN.txt            (NN 01..27)
  test_dataset/test_workflow_video_NN.mp4 + test_workflow_video_NN.txt   (NN 01..14)
  .txt: one header line ("Frame<TAB>Phase"), then "<frame><TAB><PhaseName>" for every 25-fps
  frame, 0-based; 8 phases (TrocarPlacement + the Cholec80 ones)
  -> manifests/m2cai16_workflow.json, phase_annotations/<id>.txt,
     splits/{train (01-23), val (24-27), test (the 14 test videos)}.txt"""


def convert_m2cai16(root: str, frames: Optional[str] = None, tolerance: int = 1) -> Plan:
    resolver = VideoResolver(frames)
    plan = Plan()
    entries, ids_by_folder = [], {}
    for folder, pattern in (('train_dataset', r'workflow_video_\d+\.mp4'),
                            ('test_dataset', r'test_workflow_video_\d+\.mp4')):
        videos = find_files(osp.join(root, folder), pattern, f'M2CAI16 videos in {folder}')
        ids_by_folder[folder] = sorted(videos)
        for vid, path in sorted(videos.items()):
            v = resolver.video(vid, path)
            ann = osp.join(osp.dirname(path), f'{vid}.txt')
            ids, last = read_label_rows(ann, '\t', M2CAI16_PHASES, skip_header_line=True)
            check_length(v, ann, last, len(ids), None, tolerance)
            plan.copy(ann, f'phase_annotations/{vid}.txt')
            entries.append(v.entry)
    plan.manifest('manifests/m2cai16_workflow.json', 'm2cai16', entries)
    train = ids_by_folder['train_dataset']
    lists = dict(train=[f'workflow_video_{i:02d}' for i in range(1, 24)],
                 val=[f'workflow_video_{i:02d}' for i in range(24, 28)],
                 test=ids_by_folder['test_dataset'])
    write_splits(plan, split_ids(train + lists['test'], lists),
                 'M2CAI16-Workflow, configs/_base_/datasets/finetune_m2cai16_phase.py')
    return plan


AUTOLAPARO_EXPECTS = """\
autolaparo: ROOT = the Task 1 folder (AutoLaparo_Task1)
  videos/NN.mp4                 (NN 01..21, 25 fps)
  labels/label_NN.txt           header line, then "<k><TAB><phase>", k 1-based seconds, phase 1..7
  -> manifests/autolaparo.json (ids NN), labels/label_NN.txt,
     splits/{train (01-10), val (11-14), test (15-21)}.txt"""


def convert_autolaparo(root: str, frames: Optional[str] = None, tolerance: int = 1) -> Plan:
    videos = find_files(osp.join(root, 'videos'), r'\d+\.mp4', 'AutoLaparo videos')
    resolver = VideoResolver(frames)
    plan = Plan()
    entries = []
    for vid, path in sorted(videos.items()):
        v = resolver.video(vid, path)
        ann = osp.join(root, 'labels', f'label_{int(vid):02d}.txt')
        ids, last = read_label_rows(ann, None, AUTOLAPARO_PHASES, first=1, int_base=1,
                                    skip_header_line=True)
        check_length(v, ann, last, len(ids), 1, tolerance)
        plan.copy(ann, f'labels/label_{int(vid):02d}.txt')
        entries.append(v.entry)
    plan.manifest('manifests/autolaparo.json', 'autolaparo', entries)
    lists = dict(train=[f'{i:02d}' for i in range(1, 11)], val=[f'{i:02d}' for i in range(11, 15)],
                 test=[f'{i:02d}' for i in range(15, 22)])
    write_splits(plan, split_ids(list(videos), lists), 'AutoLaparo README split')
    return plan


PMLR50_EXPECTS = """\
pmlr50: ROOT = the PmLR50 folder (1-fps frames, no videos)
  frames/NN/NNNNNNNN.jpg        (NN 01..50; 8 digits, 0-based)
  phase_annotations/NN.txt      header line, then "<frame> <phase>", one row per frame, 0..4
  -> manifests/pmlr50.json (frame folders of the release, ids NN), phase_annotations/NN.txt,
     splits/{train (01-33, 49, 50), val (34-37, 48), test (38-47)}.txt"""


def convert_pmlr50(root: str, frames: Optional[str] = None, tolerance: int = 0) -> Plan:
    base = osp.join(root, 'frames')
    if not osp.isdir(base):
        raise ReleaseError(f'missing folder: {base}')
    vids = sorted(d for d in os.listdir(base) if re.fullmatch(r'\d+', d))
    if not vids:
        raise ReleaseError(f'{base}: no NN frame folder')
    plan = Plan()
    entries = []
    for vid in vids:
        v = frame_folder(vid, osp.join(base, vid), '{:08d}.jpg')
        ann = osp.join(root, 'phase_annotations', f'{vid}.txt')
        ids, last = read_label_rows(ann, None, PMLR50_PHASES, int_base=0, skip_header_line=True)
        check_length(v, ann, last, len(ids), 1, tolerance)
        plan.copy(ann, f'phase_annotations/{vid}.txt')
        entries.append(v.entry)
    plan.manifest('manifests/pmlr50.json', 'pmlr50', entries)
    lists = dict(train=[f'{i:02d}' for i in list(range(1, 34)) + [49, 50]],
                 val=[f'{i:02d}' for i in (34, 35, 36, 37, 48)],
                 test=[f'{i:02d}' for i in range(38, 48)])
    write_splits(plan, split_ids(vids, lists), 'PmLR50, PmNet split')
    return plan


CHOLECT50_EXPECTS = """\
cholect50: ROOT = the CholecT50 folder
  videos/VIDNN/NNNNNN.png       1-fps frames, 6 digits, 0-based
  labels/VIDNN.json             official JSON: num_frames, annotations {frame: [[15 numbers]...]}
  label_mapping.txt             optional: "IVT,I,V,T,IV,IT" rows, must equal the package's map
  -> manifests/cholect50.json (frame folders of the release), labels/VIDNN.json,
     splits/{train, val, test}.txt (cholect50-challenge). The fine-tuning config reads the
     release folder itself (data_root = ROOT); the manifest + labels serve
     SurgicalTripletDataset(label_format='cholect50') and the leakage check."""


def _check_cholect50_json(path: str, num_frames: int) -> None:
    data = read_json(path, 'CholecT50 label file')
    if not isinstance(data, dict) or not isinstance(data.get('annotations'), dict):
        raise fail(path, None, 'expected an object with an "annotations" object')
    declared = data.get('num_frames')
    if declared is not None and int(declared) != num_frames:
        raise fail(path, None, f'num_frames {declared} but the frame folder holds {num_frames} '
                               'frames')
    limits = {0: 100, 1: 6, 7: 10, 8: 15, 14: 7}
    for frame, instances in data['annotations'].items():
        if not re.fullmatch(r'\d+', str(frame)) or int(frame) >= num_frames:
            raise fail(path, None, f'annotation of frame {frame!r} outside 0..{num_frames - 1}')
        for inst in instances:
            where = f'frame {frame}'
            if not isinstance(inst, list) or len(inst) != 15:
                raise fail(path, None, f'{where}: an instance must be 15 numbers, got {inst!r}')
            for col, n in limits.items():
                if not -1 <= int(inst[col]) < n:
                    raise fail(path, None, f'{where}: value {inst[col]} in column {col} outside '
                                           f'-1..{n - 1}')


def convert_cholect50(root: str, frames: Optional[str] = None, tolerance: int = 0) -> Plan:
    base = osp.join(root, 'videos')
    if not osp.isdir(base):
        raise ReleaseError(f'missing folder: {base}')
    vids = sorted((d for d in os.listdir(base) if re.fullmatch(r'VID\d+', d)),
                  key=lambda d: int(d[3:]))
    if not vids:
        raise ReleaseError(f'{base}: no VIDNN frame folder')
    plan = Plan()
    entries = []
    for vid in vids:
        v = frame_folder(vid, osp.join(base, vid), '{:06d}.png')
        ann = osp.join(root, 'labels', f'{vid}.json')
        _check_cholect50_json(ann, v.num_frames)
        plan.copy(ann, f'labels/{vid}.json')
        entries.append(v.entry)
    plan.manifest('manifests/cholect50.json', 'cholect50', entries)
    mapping = osp.join(root, 'label_mapping.txt')
    if osp.isfile(mapping):
        try:
            table = load_triplet_map(mapping)
        except ValueError as e:
            raise ReleaseError(str(e)) from e
        if not np.array_equal(table, load_triplet_map()):
            raise fail(mapping, None, 'differs from the CholecT50 triplet map shipped with the '
                                      'package (surgvista_mm/evaluation/data/cholect50_maps.txt)')
        plan.copy(mapping, 'label_mapping.txt')
    lists = {s: [f'VID{n:02d}' for n in challenge_split(s, CHALLENGE_SPLIT, ALL_VIDEOS)]
             for s in ('train', 'val', 'test')}
    write_splits(plan, split_ids(vids, lists), 'CholecT50, cholect50-challenge split')
    return plan


ENDOSCAPES_EXPECTS = """\
endoscapes: ROOT = the endoscapes folder
  {train,val,test}/annotation_ds_coco.json + the {vid}_{frame}.jpg images, and/or
  all_metadata.csv              (vid, frame, C1, C2, C3, is_ds_keyframe, ...; ann_source='csv')
  {train,val,test}_vids.txt     one video id per line (float notation accepted)
  -> splits/{train, val, test}.txt (integer video ids). EndoscapesCVSDataset reads the release
     in place (data_root = ROOT); nothing else is needed."""


def convert_endoscapes(root: str, frames: Optional[str] = None, tolerance: int = 0) -> Plan:
    plan = Plan()
    meta_path = osp.join(root, 'all_metadata.csv')
    meta = None
    if osp.isfile(meta_path):
        try:
            meta = read_endoscapes_metadata(meta_path)
        except (KeyError, ValueError) as e:
            raise ReleaseError(f'{meta_path}: {e}') from e
    for split in ('train', 'val', 'test'):
        vids_path = osp.join(root, f'{split}_vids.txt')
        if not osp.isfile(vids_path):
            raise ReleaseError(f'missing file: {vids_path}')
        vids = read_vids_file(vids_path)
        ann_path = osp.join(root, split, 'annotation_ds_coco.json')
        if not osp.isfile(ann_path):
            if meta is None:
                raise ReleaseError(f'missing file: {ann_path} (and no {meta_path})')
            ann_path = meta_path
            ann = {v: f for v, f in meta.items() if v in set(vids)}
        else:
            ann = read_endoscapes_coco(ann_path)
        stray = sorted(set(ann) - set(vids))
        if stray:
            raise fail(ann_path, None, f'videos {stray[:5]} are not in {vids_path}')
        for vid, frames_ in ann.items():
            for frame, _ in frames_:
                img = osp.join(root, split, f'{vid}_{frame}.jpg')
                if not osp.isfile(img):
                    raise ReleaseError(f'{ann_path}: image of video {vid} frame {frame} missing: '
                                       f'{img}')
        plan.ids(f'splits/{split}.txt', [str(v) for v in vids],
                 f'Endoscapes2023 {split} videos (from {split}_vids.txt)')
    return plan


CHOLEC80_CVS_EXPECTS = """\
cholec80_cvs: ROOT = the folder holding the official workbook (one .xlsx, e.g. cholec80-CVS.xlsx),
  or the .xlsx itself; columns (by name) video, initial_minute, initial_second, final_minute,
  final_second, two_structures, cystic_plate, hepatocystic_triangle (0/1/2), read with openpyxl
  -> surgeons_annotations.csv (those columns, one row per segment), splits/{train (1-40),
     test (41-80 without 73, 77-80)}.txt (Cholec80 ids videoNN)"""


def convert_cholec80_cvs(root: str, frames: Optional[str] = None, tolerance: int = 0) -> Plan:
    if osp.isfile(root):
        path = root
    else:
        books = sorted(n for n in os.listdir(root) if n.lower().endswith('.xlsx')) \
            if osp.isdir(root) else []
        if len(books) != 1:
            raise ReleaseError(f'{root}: expected exactly one .xlsx workbook, found {books}')
        path = osp.join(root, books[0])
    try:
        segments = read_cholec80_cvs(path)
    except ValueError as e:
        raise ReleaseError(str(e)) from e
    plan = Plan()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(CHOLEC80_CVS_COLUMNS)
    for i, s in enumerate(segments, start=2):
        if not 1 <= s['video'] <= 80:
            raise fail(path, i, f'video {s["video"]} is not a Cholec80 video (1..80)')
        if s['end'] < s['start']:
            plan.notes.append(f'{path}: row {i}: segment ends before it starts (kept; the '
                              'dataset clamps it)')
        # criteria order in read_cholec80_cvs: two_structures, cystic_plate, hepatocystic_triangle
        writer.writerow([s['video'], s['start'] // 60, s['start'] % 60, s['end'] // 60,
                         s['end'] % 60, *[int(c) for c in s['criteria']]])
    plan.text('surgeons_annotations.csv', buf.getvalue())
    write_splits(plan, dict(train=[f'video{i:02d}' for i in range(1, 41)],
                            test=[f'video{i:02d}' for i in range(41, 81)
                                  if i not in CHOLEC80_PAPER_TEST_DROP]),
                 'Cholec80-CVS (paper split; videos of the Cholec80 manifest)')
    plan.notes.append(f'{len(segments)} segments of {len({s["video"] for s in segments})} videos')
    return plan
