"""prepare.py generic_phase reads segment annotations (start,end,phase in seconds or native
frames) and turns them into 1-fps rows: 1-fps frame k takes the phase at k s; gaps and overlaps
are reported with the file and lines."""
from __future__ import annotations

import os
import os.path as osp

import cv2
import numpy as np
import pytest

from surgvista_mm.data_prep.releases import ReleaseError, prepare
from tests.helpers.tools import load_tool

CLASSES = ('Port placement', 'Target exposure', 'Wound closure')


def _put(path: str, text: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def _release(root: str, labels: str, seconds: int = 10) -> str:
    _put(f'{root}/classes.txt', '\n'.join(CLASSES) + '\n')
    for vid in ('a', 'b', 'c'):
        os.makedirs(f'{root}/frames/{vid}')
        for t in range(seconds):
            cv2.imwrite(f'{root}/frames/{vid}/{t:06d}.jpg', np.zeros((8, 8, 3), np.uint8))
        rows = 'frame,phase\n' + ''.join(f'{t},{t % 3}\n' for t in range(seconds))
        _put(f'{root}/labels/{vid}.csv', labels if vid == 'a' else rows)
    for split, vid in (('train', 'a'), ('val', 'b'), ('test', 'c')):
        _put(f'{root}/splits/{split}.txt', vid + '\n')
    return f'{root}/labels/a.csv'


def _rows(out: str) -> list:
    with open(f'{out}/labels/a.csv') as f:
        return f.read().splitlines()


def test_seconds_segments_become_1fps_rows(tmp_path):
    _release(str(tmp_path / 'r'), 'start_s,end_s,phase\n0,4.5,Port placement\n'
                                  '4.5,8,Target exposure\n8,10.0,2\n')
    plan = prepare('generic_phase', str(tmp_path / 'r'), str(tmp_path / 'out'))
    # second k takes the segment with start <= k < end: 0-4 | 5-7 | 8-9
    assert _rows(str(tmp_path / 'out')) == ['frame,phase'] + [
        f'{k},{CLASSES[0 if k < 5 else 1 if k < 8 else 2]}' for k in range(10)]
    assert any("1 segment label files turned into 1-fps rows" in n for n in plan.notes)
    with open(f'{tmp_path}/out/labels/b.csv') as f:  # a frame-row file is copied as it is
        assert f.read().startswith('frame,phase\n0,0\n1,1\n')


def test_frame_segments_use_the_native_frame_of_each_second(tmp_path):
    # at 25 fps second k is native frame 25 k: frames 0-112 hold seconds 0-4, 113-249 5-9
    _release(str(tmp_path / 'r'), 'start_frame,end_frame,phase\n0,112,0\n113,249,1\n')
    with pytest.raises(ReleaseError, match=r'a\.csv: start_frame,end_frame segments need the '
                                           r'native frame rate: give --fps'):
        prepare('generic_phase', str(tmp_path / 'r'), str(tmp_path / 'out'))
    main = load_tool('data/prepare').main
    assert main(['generic_phase', '--root', str(tmp_path / 'r'), '--out',
                 str(tmp_path / 'out'), '--fps', '25']) == 0
    assert _rows(str(tmp_path / 'out'))[1:] == [f'{k},{CLASSES[int(k >= 5)]}' for k in range(10)]
    # 10 s of segments for a 9-frame video: the length check names the file
    _put(f'{tmp_path}/r/labels/a.csv', 'start_frame,end_frame,phase\n0,112,0\n113,274,1\n')
    with pytest.raises(ReleaseError, match=r'a\.csv:3: annotation length \(11 frames at 1 fps'):
        prepare('generic_phase', str(tmp_path / 'r'), str(tmp_path / 'o2'), fps=25)


def test_gaps_and_overlaps_are_reported_with_file_and_lines(tmp_path):
    ann = _release(str(tmp_path / 'r'), 'start_s,end_s,phase\n0,4,0\n5,7.5,1\n7,10,2\n')
    with pytest.raises(ReleaseError) as err:
        prepare('generic_phase', str(tmp_path / 'r'), str(tmp_path / 'out'))
    assert str(err.value) == (
        f'{ann}: 2 gap(s) / overlap(s) in the segments (1-fps frame k takes the segment holding '
        'k s):\n  second 4: in no segment (after line 2, before line 3)\n'
        '  second 7: in two segments (lines 3 and 4)')
    assert not osp.exists(tmp_path / 'out')  # nothing written
    _put(ann, 'start_s,end_s,phase\n2,10,0\n')
    with pytest.raises(ReleaseError, match=r'seconds 0-1: in no segment \(before the first '
                                           r'segment, before line 2\)'):
        prepare('generic_phase', str(tmp_path / 'r'), str(tmp_path / 'out'))


@pytest.mark.parametrize('text, message', [
    ('start_s,end_s,phase\n0,10,Unknown\n', r"a\.csv:2: unknown phase 'Unknown'"),
    ('start_s,end_s,phase\n5,2,0\n', r'a\.csv:2: the segment ends \(2\) before it starts \(5\)'),
    ('start_s,end_s,phase\nx,10,0\n', r"a\.csv:2: bad start 'x' \(expected seconds"),
    ('start_s,end_s,phase\n0,10\n', r'a\.csv:2: expected "start,end,phase"'),
    ('start_s,end_s,phase\n', r'a\.csv: the segment file holds no segment'),
])
def test_bad_segment_rows_name_file_and_line(tmp_path, text, message):
    _release(str(tmp_path / 'r'), text)
    with pytest.raises(ReleaseError, match=message):
        prepare('generic_phase', str(tmp_path / 'r'), str(tmp_path / 'out'))


def test_prepare_names_a_missing_root(tmp_path, capsys):
    main = load_tool('data/prepare').main
    assert main(['generic_phase', '--root', str(tmp_path / 'missing'), '--out',
                 str(tmp_path / 'out')]) == 1
    assert capsys.readouterr().err.strip() == (
        f'error: the release folder (--root) does not exist: {tmp_path}/missing')
    with pytest.raises(ReleaseError, match='--fps is for generic_phase'):
        prepare('generic_triplet', str(tmp_path), str(tmp_path / 'out'), fps=25)
