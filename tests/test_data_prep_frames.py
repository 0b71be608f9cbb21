"""tools/data/extract_frames.py: indices and decode identical to SurgicalFrameLoader, resume,
--force, bad videos, black-margin crop, manifest."""
from __future__ import annotations

import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from surgvista_mm.data_prep.frames import ExtractOptions, extract_frames, margin_box
from surgvista_mm.datasets.manifest import load_manifest, native_index
from surgvista_mm.datasets.transforms import SurgicalFrameLoader
from tests.helpers.synth_video import decode_index, write_video
from tests.helpers.tools import load_tool


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp('videos')
    write_video(str(d / 'clipA.mp4'), 180, fps=25.0)        # 7.2 s -> 8 frames (0..7 s)
    write_video(str(d / 'clipB.avi'), 100, fps=29.97, fourcc='MJPG')  # non-integer fps
    return d


@pytest.fixture(scope='module')
def long_avi(tmp_path_factory):
    return write_video(str(tmp_path_factory.mktemp('long') / 'long.avi'), 250, fps=25.0,
                       fourcc='MJPG')


def _loader(results):
    return SurgicalFrameLoader()(results)['imgs']


def test_extracted_frames_equal_loader_decode_pixel_for_pixel(videos, tmp_path):
    out = tmp_path / 'frames'
    tool = load_tool('data/extract_frames')
    assert tool.main([str(videos), '--out', str(out), '--png']) == 0
    entries = {e.video_id: e for e in load_manifest(str(out / 'manifest.json'))}
    assert sorted(entries) == ['clipA', 'clipB']
    assert entries['clipA'].num_frames == 8 and entries['clipA'].fps == pytest.approx(25.0)
    assert entries['clipB'].num_frames == 4 and entries['clipB'].fps == pytest.approx(29.97)
    for vid, name in (('clipA', 'clipA.mp4'), ('clipB', 'clipB.avi')):
        e = entries[vid]
        inds = np.arange(e.num_frames)
        from_files = _loader(dict(e.to_results(), frame_inds=inds))
        from_video = _loader(dict(video_id=vid, filename=str(videos / name), native_fps=None,
                                  frame_inds=inds))
        for k, (a, b) in enumerate(zip(from_files, from_video)):
            assert np.array_equal(a, b), (vid, k)
            assert decode_index(a) == native_index(k, e.fps)  # the frame it encodes
    assert [decode_index(f) for f in from_files] == [0, 30, 60, 90]  # 29.97 fps: round(k*fps)


def test_jpeg_resume_force_and_bad_videos(videos, long_avi, tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    os.symlink(videos / 'clipA.mp4', src / 'clipA.mp4')
    (src / 'broken.mp4').write_bytes(b'not a video at all' * 10)
    (src / 'empty.mp4').write_bytes(b'')
    with open(long_avi, 'rb') as f:
        data = f.read()  # cut inside its last sampled frame
    (src / 'truncated.avi').write_bytes(data[:len(data) // 2])
    out = tmp_path / 'out'
    tool = load_tool('data/extract_frames')
    report = extract_frames([str(src)], str(out), ExtractOptions(quality=90), workers=2,
                            progress=False)
    assert report.done == ['clipA']
    assert sorted(osp.basename(p) for p in report.bad) == ['broken.mp4', 'empty.mp4',
                                                            'truncated.avi']
    assert 'truncated, the container declares 250 frames' in report.bad[str(src / 'truncated.avi')]
    assert tool.main([str(src), '--out', str(out), '--quality', '90']) == 1  # bad videos
    assert tool.main([str(src), '--out', str(out), '--quality', '90', '--skip-bad']) == 0
    frames = sorted(os.listdir(out / 'clipA'))
    assert [f for f in frames if f.endswith('.jpg')] == [f'{k:06d}.jpg' for k in range(8)]
    img = cv2.imread(str(out / 'clipA' / '000005.jpg'))[..., ::-1]
    assert decode_index(img) == 125
    # interrupted run: a frame and the summary are missing -> only that frame is redone
    os.remove(out / 'clipA' / '000003.jpg')
    os.remove(out / 'clipA' / '.summary.json')
    mtime = os.stat(out / 'clipA' / '000004.jpg').st_mtime_ns
    report = extract_frames([str(src / 'clipA.mp4')], str(out), ExtractOptions(quality=90),
                            progress=False)
    assert report.done == ['clipA'] and osp.isfile(out / 'clipA' / '000003.jpg')
    assert os.stat(out / 'clipA' / '000004.jpg').st_mtime_ns == mtime
    report = extract_frames([str(src / 'clipA.mp4')], str(out), ExtractOptions(quality=90),
                            progress=False)
    assert report.skipped == ['clipA']
    # other options: refused without --force, redone with it
    assert tool.main([str(src / 'clipA.mp4'), '--out', str(out), '--short-side', '24']) == 1
    assert cv2.imread(str(out / 'clipA' / '000000.jpg')).shape[:2] == (48, 64)
    assert tool.main([str(src / 'clipA.mp4'), '--out', str(out), '--short-side', '24',
                      '--force']) == 0
    assert cv2.imread(str(out / 'clipA' / '000000.jpg')).shape[:2] == (24, 32)
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['format'] == 'surgvista_mm.manifest/v1'
    assert [v['video_id'] for v in manifest['videos']] == ['clipA']


def test_bad_videos_are_named(videos, tmp_path, capsys):
    (tmp_path / 'list.txt').write_text(f'{videos / "clipA.mp4"}\nmissing.mp4\n')
    tool = load_tool('data/extract_frames')
    assert tool.main([f'@{tmp_path / "list.txt"}', '--out', str(tmp_path / 'o')]) == 1
    err = capsys.readouterr().err
    assert 'missing.mp4' in err and 'not found' in err


def test_margin_box_is_one_box_per_video(tmp_path):
    img = np.zeros((120, 200, 3), np.uint8)
    img[10:110, 30:170] = 90  # content; the rest is a black margin
    img[12, 5] = 255  # an isolated bright pixel is removed by the median blur
    x0, y0, x1, y1 = margin_box([img, img])
    assert abs(x0 - 30) <= 2 and abs(x1 - 170) <= 2 and abs(y0 - 10) <= 2 and abs(y1 - 110) <= 2
    assert margin_box([np.zeros((50, 60, 3), np.uint8)]) == (0, 0, 60, 50)


def test_crop_margin_is_applied_to_every_frame(tmp_path):
    from tests.helpers.synth_video import index_frame

    def framed(i):  # content 48 x 64 inside a black border of 16 / 20 px
        img = np.zeros((80, 104, 3), np.uint8)
        img[16:64, 20:84] = np.maximum(index_frame(i), 60)
        return img

    write_video(str(tmp_path / 'v.mp4'), 60, 25.0, framed)
    report = extract_frames([str(tmp_path / 'v.mp4')], str(tmp_path / 'o'),
                            ExtractOptions(crop_margin=True, short_side=24, image_ext='png'),
                            progress=False)
    assert report.done == ['v']
    shapes = {cv2.imread(str(tmp_path / 'o' / 'v' / f'{k:06d}.png')).shape for k in range(3)}
    assert len(shapes) == 1
    h, w, _ = shapes.pop()
    assert h == 24 and abs(w - 32) <= 1  # 48 x 64 content (+- a pixel of blur), short side 24
    summary = json.loads((tmp_path / 'o' / 'v' / '.summary.json').read_text())
    x0, y0, x1, y1 = summary['crop_box']
    assert abs(x0 - 20) <= 2 and abs(y0 - 16) <= 2 and abs(x1 - 84) <= 2 and abs(y1 - 64) <= 2


def test_frames_carry_restart_markers_and_old_records_still_match(videos, tmp_path):
    """Extracted JPEGs have a restart marker every MCU by default (the loader's window
    decode then applies; pixels are those of a marker-free encode), ``--restart-interval 0``
    writes none, and a folder recorded with another interval or before the option existed is
    not refused (markers change no pixel)."""
    from surgvista_mm.datasets.transforms.jpeg_restart import restart_layout
    src = str(videos / 'clipA.mp4')
    out = tmp_path / 'frames'
    assert extract_frames([src], str(out), ExtractOptions(quality=90), progress=False).done
    data = (out / 'clipA' / '000002.jpg').read_bytes()
    layout = restart_layout(data)
    assert layout is not None and layout.interval == 1
    plain_dir = tmp_path / 'plain'
    opts0 = ExtractOptions(quality=90, restart_interval=0)
    assert extract_frames([src], str(plain_dir), opts0, progress=False).done
    plain = (plain_dir / 'clipA' / '000002.jpg').read_bytes()
    assert restart_layout(plain) is None and len(plain) < len(data)
    decode = lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)  # noqa: E731
    assert np.array_equal(decode(plain), decode(data))  # same coefficients, same pixels
    for name in ('.params.json', '.summary.json'):  # as written before the option existed
        path = plain_dir / 'clipA' / name
        rec = json.loads(path.read_text())
        params = rec.get('params', rec)
        params.pop('restart_interval')
        path.write_text(json.dumps(rec))
    assert extract_frames([src], str(plain_dir), opts0, progress=False).skipped == ['clipA']
    # the default command (interval 1) on that old folder: complete, not refused (no pixel
    # differs); a PNG folder likewise
    assert extract_frames([src], str(plain_dir), ExtractOptions(quality=90),
                          progress=False).skipped == ['clipA']
    png_dir = tmp_path / 'png'
    assert extract_frames([src], str(png_dir), ExtractOptions(image_ext='png'),
                          progress=False).done
    assert extract_frames([src], str(png_dir), ExtractOptions(image_ext='png', restart_interval=0),
                          progress=False).skipped == ['clipA']
    with pytest.raises(ValueError, match='restart_interval'):
        ExtractOptions(restart_interval=-1)
