"""Fault injection on frame extraction and JPEG decoding: --force removes only this tool's files,
--out may be the input tree, stale frames are not kept, corrupt JPEGs are errors everywhere."""
from __future__ import annotations

import os
import shutil

import cv2
import numpy as np
import pytest

from surgvista_mm.data_prep.frames import ExtractOptions, extract_frames
from tests.helpers.synth_video import decode_index, write_video
from tests.helpers.tools import load_tool


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    return write_video(str(tmp_path_factory.mktemp('clip') / 'video05.mp4'), 75, fps=25.0)


def test_force_with_out_as_the_input_tree_deletes_no_video(clip, tmp_path, capsys):
    """raw/video05/video05.mp4 with --out raw: out/<id> is the video's own folder. Before, --force
    removed that whole folder, the source video with it."""
    raw = tmp_path / 'raw'
    (raw / 'video05').mkdir(parents=True)
    shutil.copy(clip, raw / 'video05' / 'video05.mp4')
    (raw / 'video05' / 'notes.txt').write_text('my notes')
    tool = load_tool('data/extract_frames')
    for force in ([], ['--force']):
        assert tool.main([str(raw), '--out', str(raw), *force]) == 1
        err = capsys.readouterr().err
        assert 'holds files this tool did not write: notes.txt, video05.mp4 (the input ' \
               'video)' in err
        assert sorted(os.listdir(raw / 'video05')) == ['notes.txt', 'video05.mp4']
    # a folder of its own: extracted; --force there removes only its own files
    out = tmp_path / 'frames'
    assert tool.main([str(raw), '--out', str(out)]) == 0
    (out / 'video05' / 'keep.txt').write_text('a user file')
    assert tool.main([str(raw), '--out', str(out), '--force']) == 1
    assert (out / 'video05' / 'keep.txt').read_text() == 'a user file'
    assert len([n for n in os.listdir(out / 'video05') if n.endswith('.jpg')]) == 3


def test_stale_frames_without_params_are_not_kept(clip, tmp_path):
    """Frames already in a folder without this tool's .params.json were kept and the folder marked
    complete. Now: refused; with --force only the frame files are removed and re-extracted."""
    out = tmp_path / 'frames'
    vdir = out / 'video05'
    vdir.mkdir(parents=True)
    stale = np.zeros((10, 12, 3), np.uint8)  # another size, other content
    for k in range(3):
        cv2.imwrite(str(vdir / f'{k:06d}.jpg'), stale)
    report = extract_frames([clip], str(out), ExtractOptions(), progress=False)
    assert report.done == [] and list(report.refused) == [clip]
    assert "holds 3 frame file(s) but not this tool's .params.json" in report.refused[clip]
    assert cv2.imread(str(vdir / '000000.jpg')).shape[:2] == (10, 12)  # untouched
    report = extract_frames([clip], str(out), ExtractOptions(), force=True, progress=False)
    assert report.done == ['video05']
    assert sorted(os.listdir(vdir)) == ['.params.json', '.summary.json', '000000.jpg',
                                        '000001.jpg', '000002.jpg']
    frames = [cv2.imread(str(vdir / f'{k:06d}.jpg'))[..., ::-1] for k in range(3)]
    assert [f.shape[:2] for f in frames] == [(48, 64)] * 3
    assert [decode_index(f) for f in frames] == [0, 25, 50]


def test_unsafe_video_file_names_are_refused(clip, tmp_path, capsys):
    bad = tmp_path / '..hidden.mp4'
    shutil.copy(clip, bad)
    assert load_tool('data/extract_frames').main([str(bad), '--out', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert "..hidden.mp4: unsafe video id '..hidden': it starts with '.'" in err
    assert not (tmp_path / 'o').exists()
