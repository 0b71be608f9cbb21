"""Fault injection on frame extraction and JPEG decoding: --force removes only this tool's files,
--out may be the input tree, stale frames are not kept, corrupt JPEGs are errors everywhere."""
from __future__ import annotations

import os
import os.path as osp
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


@pytest.fixture(scope='module')
def demo(make_demo) -> str:
    return make_demo('--videos', '2', '--frames', '16', '--size', '64', '--web-videos', '1')


def _corrupt_jpeg(path: str, kind: str) -> None:
    """Damage the entropy-coded data but keep a valid header and the end-of-image marker: the
    kind of file libjpeg only warns about ("Corrupt JPEG data") while OpenCV returns garbage."""
    data = bytearray(open(path, 'rb').read())
    sos = data.find(b'\xff\xda')
    start = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], 'big')
    if kind == 'zeros':
        for i in range(start + 8, start + 40):
            data[i] = 0 if data[i] != 0xFF else 0xFF
    else:  # truncated, the end-of-image marker appended
        data = data[:(start + len(data)) // 2] + b'\xff\xd9'
    open(path, 'wb').write(bytes(data))


@pytest.mark.parametrize('kind', ['zeros', 'truncated'])
def test_corrupt_jpeg_data_is_an_error_in_every_decode_path(demo, tmp_path, kind, monkeypatch):
    from surgvista_mm.datasets import base_clip_dataset
    from surgvista_mm.datasets.media import MediaError
    from surgvista_mm.datasets.media_check import check_manifests
    from surgvista_mm.inference.frames import open_frames
    from surgvista_mm.registry import DATASETS
    root = str(tmp_path / 'demo')
    shutil.copytree(demo, root)
    bad = osp.join(root, 'frames', 'video01', '000005.jpg')
    _corrupt_jpeg(bad, kind)
    garbage = cv2.imdecode(np.fromfile(bad, np.uint8), cv2.IMREAD_COLOR)
    assert garbage is not None and garbage.shape == (64, 80, 3)  # OpenCV alone accepts it
    # check_media reports it
    report = check_manifests([osp.join(root, 'manifests', 'demo_frames.json')], progress=False)
    assert [(p.video_id, p.frame) for p in report.problems] == [('video01', 5)]
    assert 'cannot decode (cannot decode JPEG: Corrupt JPEG data' in report.problems[0].problem

    def dataset(**kw):
        return DATASETS.build(dict(type='SurgicalPretrainDataset', data_root=root,
                                   sources=[dict(manifest='manifests/demo_frames.json')],
                                   clip_len=4, frame_interval=1,
                                   pipeline=[dict(type='SurgicalFrameLoader'),
                                             dict(type='PackSurgVistaInputs')], **kw))
    # the loaders raise a MediaError naming file, video and frame ...
    with pytest.raises(MediaError, match=r"frame 5 of video 'video01' cannot be decoded: "
                                         r".*000005.jpg \(ValueError: .*Corrupt JPEG data"):
        dataset()[5]
    # ... so on_bad_sample applies
    monkeypatch.setattr(base_clip_dataset, 'print_log', lambda *a, **k: None)
    ds = dataset(on_bad_sample='skip', max_bad_samples=3)
    ds[5]
    assert ds.bad_sample_count() == 1
    # the fine-tuning crop loader's reference path and online inference on a frame folder
    from surgvista_mm.registry import TRANSFORMS
    info = ds.get_data_info(5)
    loader = TRANSFORMS.build(dict(type='SurgicalFrameCropLoader', input_size=32, decoder='cv2'))
    with pytest.raises(MediaError, match='Corrupt JPEG data'):
        loader(dict(info, rng=np.random.default_rng(0)))
    with pytest.raises(ValueError, match=r'cannot decode image .*000005.jpg: .*Corrupt JPEG'):
        open_frames(osp.join(root, 'frames', 'video01')).read(np.array([5]))


def _mp4_with_stts(src: str, dst: str, entries) -> None:
    """Copy the MP4 ``src`` (one video track, the 'moov' box after the media data, as OpenCV
    writes it) with its sample durations ('stts') replaced by ``entries`` [(count, ticks)] and
    the track duration ('mdhd') set to their sum: a variable frame rate, nothing re-encoded."""
    import struct

    def rebuild(buf: bytes, start: int, end: int, path, body_of) -> bytes:
        out, i = b'', start
        while i < end:
            size, kind = struct.unpack('>I4s', buf[i:i + 8])
            if kind.decode() == path[0]:
                body = (body_of[path[0]](buf[i + 8:i + size]) if len(path) == 1
                        else rebuild(buf, i + 8, i + size, path[1:], body_of))
                out += struct.pack('>I4s', len(body) + 8, kind) + body
            else:
                out += buf[i:i + size]
            i += size
        return out

    total = sum(c * t for c, t in entries)
    body_of = {'stts': lambda b: b[:4] + struct.pack('>I', len(entries)) + b''.join(
                   struct.pack('>II', c, t) for c, t in entries),
               'mdhd': lambda b: b[:16] + struct.pack('>I', total) + b[20:]}
    buf = open(src, 'rb').read()
    assert buf.find(b'moov') > buf.find(b'mdat')  # box offsets of the media data stay valid
    buf = rebuild(buf, 0, len(buf), ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stts'], body_of)
    buf = rebuild(buf, 0, len(buf), ['moov', 'trak', 'mdia', 'mdhd'], body_of)
    open(dst, 'wb').write(buf)


def test_a_frame_rate_that_does_not_fit_the_timestamps_is_a_warning(tmp_path, capsys,
                                                                     monkeypatch):
    """A variable frame rate (80 frames in 1.6 s, then 20 in 3.2 s; the header's average rate
    20.8 fps): 1-fps frame 4 would be the frame shown at 2.08 s. Before: no word of it."""
    import decord

    from surgvista_mm.datasets.manifest import write_manifest
    from surgvista_mm.datasets.media import header_fps_warning
    from surgvista_mm.datasets.media_check import check_manifests
    src = write_video(str(tmp_path / 'cfr.mp4'), 100, fps=25.0)  # timescale 12800: 512 / frame
    vfr = str(tmp_path / 'videos' / 'vfr01.mp4')
    os.makedirs(osp.dirname(vfr))
    _mp4_with_stts(src, vfr, [(80, 256), (20, 2048)])
    reader = decord.VideoReader(src)
    assert header_fps_warning(reader, reader.get_avg_fps(), 'cfr', src) is None
    reader = decord.VideoReader(vfr)
    msg = header_fps_warning(reader, reader.get_avg_fps(), 'vfr01', vfr)
    assert msg.startswith("video 'vfr01' (") and 'its frame rate 20.8333 fps (header / ' \
        "manifest) does not fit its frames' timestamps: 1-fps frame 4 (native frame 83) is " \
        'shown at 2.08 s, 1.9 s off' in msg
    # the tools that map 1-fps frames to native frames say so, naming the video
    report = extract_frames([vfr], str(tmp_path / 'frames'), progress=False)
    assert report.done == ['vfr01'] and "video 'vfr01'" in report.warnings[vfr]
    manifest = str(tmp_path / 'm.json')
    write_manifest(manifest, [dict(video_id='vfr01', video=vfr, num_frames=4)])
    media = check_manifests([manifest], progress=False)
    assert media.ok and len(media.warnings) == 1 and "video 'vfr01'" in media.warnings[0]
    assert 'warning: video \'vfr01\'' in media.summary()
    capsys.readouterr()
    assert load_tool('build_manifest').main([str(tmp_path / 'videos'), '--out', manifest,
                                             '--frames-glob', '']) == 0
    assert "warning: video 'vfr01'" in capsys.readouterr().err
    from surgvista_mm.data_prep.releases import common  # prepare.py's video probe
    logged = []
    monkeypatch.setattr(common, 'print_log', lambda msg, **kw: logged.append(msg))
    assert common.probe_video(vfr)[1] == pytest.approx(20.8333, abs=1e-3)
    assert len(logged) == 1 and logged[0].startswith("video 'vfr01'")
    common.probe_video(src)
    assert len(logged) == 1
