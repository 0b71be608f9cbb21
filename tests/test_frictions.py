"""Smaller frictions of the private-dataset path (issue 17, section 6): data tools on empty or
bad input, plot titles, comparison labels, package data."""
from __future__ import annotations

import os
import os.path as osp

from tests.helpers.tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_extract_frames_without_videos_writes_no_manifest(tmp_path, capsys):
    main = load_tool('data/extract_frames').main
    (tmp_path / 'empty').mkdir()
    out = tmp_path / 'frames'
    assert main([str(tmp_path / 'empty'), '--out', str(out)]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: no video file in ['{tmp_path}/empty'] (extensions: .mp4,")
    assert not out.exists()
    (tmp_path / 'fake.mp4').write_text('not a video')
    assert main([str(tmp_path / 'fake.mp4'), '--out', str(out)]) == 1  # a bad video
    assert 'manifest: none (no complete video)' in capsys.readouterr().out
    assert not (out / 'manifest.json').exists()


def test_build_manifest_on_a_non_video_prints_one_line(tmp_path, capsys):
    (tmp_path / 'fake.mp4').write_text('not a video')
    out = tmp_path / 'm.json'
    assert load_tool('build_manifest').main([str(tmp_path), '--out', str(out)]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith('error')]
    assert len(err) == 1 and err[0].startswith(
        f"error: cannot read video 'fake' ({tmp_path}/fake.mp4): not a readable video (")
    assert err[0].endswith('nothing written') and not out.exists()
