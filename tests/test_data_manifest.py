"""Manifests, id lists, the 1-fps mapping of video files and tools/build_manifest.py."""
import json
import os.path as osp

import pytest

from surgvista_mm.datasets.manifest import (load_manifest, native_index, num_frames_at_1fps,
                                            read_id_list, write_manifest)
from tests.helpers.tools import load_tool


@pytest.fixture(scope='module')
def demo(make_demo):
    return make_demo('--videos', '3', '--frames', '24', '--size', '32', '--web-fps', '2.5',
                     '--no-progress')


def test_native_index_and_count():
    assert [native_index(k, 25) for k in range(3)] == [0, 25, 50]
    assert native_index(1, 29.97) == 30 and native_index(3, 2.5) == 8  # 7.5 rounds half up
    assert num_frames_at_1fps(100, 25) == 4  # frames 0, 25, 50, 75
    assert num_frames_at_1fps(76, 25) == 4 and num_frames_at_1fps(75, 25) == 3
    assert num_frames_at_1fps(1, 30) == 1 and num_frames_at_1fps(0, 30) == 0
    for n, fps in ((1000, 29.97), (61, 2.5), (7, 0.5)):
        k = num_frames_at_1fps(n, fps)
        assert native_index(k - 1, fps) <= n - 1 < native_index(k, fps)


def test_roundtrip_json_and_jsonl(tmp_path):
    videos = [dict(video_id='a', frame_dir='fa', num_frames=5),
              dict(video_id='b', video='vb.mp4', num_frames=3, fps=25.0),
              dict(video_id='c', frame_dir='fc', num_frames=2, filename_tmpl='img_{:05d}.jpg',
                   offset=1)]
    for name in ('m.json', 'm.jsonl'):
        path = str(tmp_path / 'sub' / name)
        write_manifest(path, videos, source='s', data_root='..', filename_tmpl='{:04d}.png',
                       offset=0)
        entries = load_manifest(path)
        assert [e.video_id for e in entries] == ['a', 'b', 'c']
        a, b, c = entries
        # both forms resolve paths against data_root ('..' of the manifest's folder)
        assert osp.normpath(a.frame_dir) == osp.join(str(tmp_path), 'fa')
        assert osp.normpath(b.video) == osp.join(str(tmp_path), 'vb.mp4')
        assert a.filename_tmpl == '{:04d}.png' and a.offset == 0
        assert b.video.endswith('vb.mp4') and b.fps == 25.0 and b.frame_dir is None
        assert c.filename_tmpl == 'img_{:05d}.jpg' and c.offset == 1
    # explicit data_root wins
    entries = load_manifest(str(tmp_path / 'sub' / 'm.json'), data_root='/data/x')
    assert entries[0].frame_dir == '/data/x/fa'


@pytest.mark.parametrize('video, msg', [
    (dict(video_id='a', num_frames=3), 'exactly one of'),
    (dict(video_id='a', frame_dir='f', video='v.mp4', num_frames=3), 'exactly one of'),
    (dict(video_id='a', frame_dir='f'), "missing key 'num_frames'"),
    (dict(video_id='a', frame_dir='f', num_frames=-1), 'num_frames'),
    (dict(video_id='a', frame_dir='f', num_frames=3, colour='red'), 'unknown keys'),
])
def test_bad_entries(tmp_path, video, msg):
    path = tmp_path / 'm.json'
    path.write_text(json.dumps(dict(videos=[video])))
    with pytest.raises(ValueError, match=msg):
        load_manifest(str(path))


def test_duplicate_and_missing(tmp_path):
    path = tmp_path / 'm.json'
    path.write_text(json.dumps(dict(videos=[dict(video_id='a', frame_dir='f', num_frames=1)] * 2)))
    with pytest.raises(ValueError, match="duplicate video_id 'a'"):
        load_manifest(str(path))
    with pytest.raises(FileNotFoundError, match='nope.json'):
        load_manifest(str(tmp_path / 'nope.json'))


def test_read_id_list(tmp_path):
    f = tmp_path / 'ids.txt'
    f.write_text('video01\n# comment\n\nvideo02  # trailing\n')
    assert read_id_list(str(f)) == ['video01', 'video02']
    assert read_id_list([1, 'b']) == ['1', 'b'] and read_id_list(None) is None
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        read_id_list(str(tmp_path / 'missing.txt'))


def test_infer_frame_template():
    infer = load_tool('build_manifest').infer_frame_template
    assert infer(['img_00001.jpg', 'img_00002.jpg'])[:2] == ('img_{:05d}.jpg', 1)
    assert infer(['000000.jpg', '000001.jpg'])[:2] == ('{:06d}.jpg', 0)
    assert infer(['2.jpg', '10.jpg', '1.jpg'])[:2] == ('{:d}.jpg', 1)
    assert infer(['BBP02_00000001.jpg'])[:2] == ('BBP02_{:08d}.jpg', 1)
    with pytest.raises(ValueError, match='padding'):
        infer(['01.jpg', '001.jpg'])


def test_build_manifest_on_demo_tree(demo, tmp_path):
    out = str(tmp_path / 'manifests' / 'all.json')
    excl = osp.join(demo, 'splits', 'test.txt')
    assert load_tool('build_manifest').main([demo, '--out', out, '--exclude-list', excl]) == 0
    entries = {e.video_id: e for e in load_manifest(out)}
    assert sorted(entries) == ['video01', 'video02', 'web01']  # video03 is the test video
    assert entries['video01'].num_frames == 24
    assert entries['video01'].frame_dir == osp.join(demo, 'frames', 'video01')
    assert entries['video01'].filename_tmpl == '{:06d}.jpg'
    web = entries['web01']
    assert web.fps == pytest.approx(2.5) and web.num_frames == num_frames_at_1fps(60, 2.5)
    # same as the demo's own manifests
    demo_entries = {e.video_id: e for e in load_manifest(osp.join(demo, 'manifests',
                                                                  'demo_web.json'))}
    assert demo_entries['web01'].num_frames == web.num_frames


def test_build_manifest_gaps(tmp_path):
    d = tmp_path / 'data' / 'v1'
    d.mkdir(parents=True)
    for k in (1, 2, 4):
        (d / f'img_{k:05d}.jpg').write_bytes(b'x')
    tool = load_tool('build_manifest')
    out = str(tmp_path / 'm.json')
    with pytest.raises(ValueError, match='frame 3 is missing'):
        tool.main([str(tmp_path / 'data'), '--out', out])
    assert tool.main([str(tmp_path / 'data'), '--out', out, '--allow-gaps']) == 0
    (e,) = load_manifest(out)
    assert (e.num_frames, e.offset, e.filename_tmpl) == (2, 1, 'img_{:05d}.jpg')
