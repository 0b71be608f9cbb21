"""The fast pre-training loader: libjpeg-turbo region decoding equals a full decode, and
``SurgicalFrameCropLoader`` equals ``SurgicalFrameLoader`` + ``TSNMultiScaleCrop`` exactly."""
import ctypes.util
import os.path as osp

import cv2
import numpy as np
import pytest

import surgvista_mm  # noqa: F401
from surgvista_mm.datasets.transforms.jpeg import (TurboJpeg, dct_scale_for, decode_jpeg_torch,
                                                   default_turbojpeg)
from surgvista_mm.registry import TRANSFORMS

SAMPLINGS = {'420': cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
             '422': cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
             '444': cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444}


def _image(h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 90 * np.sin(xx / 7 + seed), 128 + 80 * np.cos(yy / 5),
                    xx * 255.0 / w], -1) + rng.normal(0, 20, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)  # busy chroma: edge effects would show


def _jpeg(img, sampling='420', quality=90):
    ok, buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, quality,
                                         cv2.IMWRITE_JPEG_SAMPLING_FACTOR, SAMPLINGS[sampling]])
    assert ok
    return buf.tobytes()


def _cv2_rgb(data):
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                        cv2.COLOR_BGR2RGB)


@pytest.fixture(scope='module')
def turbo():
    tj = default_turbojpeg()
    assert tj is not None, 'libturbojpeg 3 not found: pip install turbojpeg (setup.py)'
    return tj


@pytest.mark.parametrize('sampling', ['420', '422', '444'])
def test_region_decode_equals_full_decode(turbo, sampling):
    """Any box, on or off the iMCU grid, odd image sizes: the same pixels as OpenCV's full
    decode sliced to the box (both are libjpeg-turbo; max |diff| measured 0 here)."""
    img = _image(77, 133, seed=1)
    data = _jpeg(img, sampling)
    ref = _cv2_rgb(data)
    hdr = turbo.header(data)
    assert (hdr.width, hdr.height) == (133, 77)
    assert np.array_equal(turbo.decode(data), ref)
    rng = np.random.default_rng(0)
    boxes = [(0, 0, 133, 77), (16, 16, 40, 30), (15, 0, 17, 77), (117, 61, 16, 16),
             (0, 5, 1, 1), (132, 76, 1, 1)]
    for _ in range(60):
        w, h = int(rng.integers(1, 134)), int(rng.integers(1, 78))
        boxes.append((int(rng.integers(0, 134 - w)), int(rng.integers(0, 78 - h)), w, h))
    for x, y, w, h in boxes:
        out = turbo.decode(data, (x, y, w, h))
        assert out.shape == (h, w, 3)
        assert np.array_equal(out, ref[y:y + h, x:x + w]), (sampling, (x, y, w, h))


def test_pickles_for_spawned_workers(turbo):
    import pickle
    data = _jpeg(_image(32, 48, 0))
    clone = pickle.loads(pickle.dumps(turbo))
    assert clone.lib_path == turbo.lib_path
    assert np.array_equal(clone.decode(data, (3, 2, 20, 9)), turbo.decode(data, (3, 2, 20, 9)))
    loader = TRANSFORMS.build(dict(type='SurgicalFrameCropLoader', input_size=16))
    assert pickle.loads(pickle.dumps(loader)).turbo is not None


def test_decode_errors(turbo):
    data = _jpeg(_image(32, 48, 0))
    with pytest.raises(ValueError, match='outside'):
        turbo.decode(data, (40, 0, 16, 16))
    with pytest.raises(ValueError, match='JPEG'):
        turbo.header(b'not a jpeg at all')
    with pytest.raises(ValueError):  # truncated entropy data: an error, not grey pixels
        turbo.decode(data[:len(data) // 2])
    with pytest.raises(OSError, match='TurboJPEG'):
        TurboJpeg(lib_path=ctypes.util.find_library('c'))  # a library without tj3 functions


def _frame_folder(tmp_path, n=12, h=90, w=160, ext='jpg'):
    for k in range(n):
        img = _image(h, w, seed=k)
        if ext == 'jpg':
            (tmp_path / f'{k + 1:06d}.jpg').write_bytes(_jpeg(img))
        else:
            cv2.imwrite(str(tmp_path / f'{k + 1:06d}.{ext}'), img)
    return str(tmp_path)


CROP = dict(input_size=64, scales=(1.0, 0.875, 0.75, 0.66), max_wh_scale_gap=1,
            num_fixed_crops=13)


def _reference(results):
    loader = TRANSFORMS.build(dict(type='SurgicalFrameLoader'))
    crop = TRANSFORMS.build(dict(type='TSNMultiScaleCrop', **CROP))
    return crop(loader(dict(results)))


def _results(frame_dir, seed, inds=(0, 2, 4, 4, 6, 8), tmpl='{:06d}.jpg'):
    return dict(video_id='v1', frame_dir=frame_dir, filename_tmpl=tmpl, offset=1,
                frame_inds=np.array(inds), rng=np.random.default_rng(seed))


def test_crop_loader_equals_loader_plus_crop(tmp_path):
    """The default (region decode) output equals the reference path's exactly, box included,
    for many draws of the crop (different sizes and offsets)."""
    frame_dir = _frame_folder(tmp_path)
    fast = TRANSFORMS.build(dict(type='SurgicalFrameCropLoader', **CROP))
    assert fast.turbo is not None
    boxes = set()
    for seed in range(25):
        ref = _reference(_results(frame_dir, seed))
        out = fast(_results(frame_dir, seed))
        boxes.add(tuple(out['crop_bbox'].tolist()))
        assert np.array_equal(out['crop_bbox'], ref['crop_bbox'])
        assert out['img_shape'] == ref['img_shape'] == (64, 64)
        assert out['original_shape'] == ref['original_shape'] == (90, 160)
        assert len(out['imgs']) == 6
        for a, b in zip(out['imgs'], ref['imgs']):
            assert a.dtype == np.uint8 and a.flags['C_CONTIGUOUS']
            assert np.array_equal(a, b)
    assert len(boxes) > 10  # many different boxes were compared
    # the reference decoder option and non-JPEG frames take the general path, same result
    slow = TRANSFORMS.build(dict(type='SurgicalFrameCropLoader', decoder='cv2', **CROP))
    ref = _reference(_results(frame_dir, 3))
    assert all(np.array_equal(a, b) for a, b in zip(slow(_results(frame_dir, 3))['imgs'],
                                                    ref['imgs']))
    (tmp_path / 'png').mkdir()
    png_dir = _frame_folder(tmp_path / 'png', n=9, ext='png')
    out = fast(_results(png_dir, 4, tmpl='{:06d}.png'))['imgs']
    ref = _reference(_results(png_dir, 4, tmpl='{:06d}.png'))['imgs']
    assert len(out) == 6 and all(np.array_equal(a, b) for a, b in zip(out, ref))


def test_crop_loader_errors(tmp_path):
    frame_dir = _frame_folder(tmp_path, n=6)
    fast = TRANSFORMS.build(dict(type='SurgicalFrameCropLoader', **CROP))
    with pytest.raises(FileNotFoundError, match=r"frame 9 of video 'v1'.*000010\.jpg"):
        fast(_results(frame_dir, 0, inds=(0, 9)))
    data = (tmp_path / '000003.jpg').read_bytes()
    (tmp_path / '000003.jpg').write_bytes(data[:len(data) // 3])
    with pytest.raises(ValueError, match=r"frame 2 of video 'v1' cannot be decoded"):
        fast(_results(frame_dir, 0, inds=(0, 2)))
    (tmp_path / '000004.jpg').write_bytes(_jpeg(_image(90, 150, 0)))
    with pytest.raises(ValueError, match=r"frame 3 of video 'v1'.*size differs"):
        fast(_results(frame_dir, 0, inds=(0, 3)))
    with pytest.raises(ValueError, match='decoder'):
        TRANSFORMS.build(dict(type='SurgicalFrameCropLoader', decoder='pil'))


def test_dct_scale_is_opt_in_and_close(tmp_path):
    """Reduced-size DCT decoding changes pixels; it stays close to the exact output."""
    assert dct_scale_for(480, 480, 224, 224) == 4 and dct_scale_for(316, 316, 224, 224) == 6
    assert dct_scale_for(100, 100, 224, 224) == 8
    frame_dir = _frame_folder(tmp_path, h=180, w=320)
    exact = TRANSFORMS.build(dict(type='SurgicalFrameCropLoader', **CROP))
    scaled = TRANSFORMS.build(dict(type='SurgicalFrameCropLoader', dct_scale=True, **CROP))
    for seed in range(4):
        a, b = exact(_results(frame_dir, seed)), scaled(_results(frame_dir, seed))
        assert np.array_equal(a['crop_bbox'], b['crop_bbox'])
        x, y = np.stack(a['imgs']).astype(int), np.stack(b['imgs']).astype(int)
        assert x.shape == y.shape
        # noisy test frames; mean difference measured 6-12 levels (a sub-pixel box shift)
        assert 0 < np.abs(x - y).mean() < 20


def test_torch_decoder_on_cpu(tmp_path):
    """``torchvision.io.decode_jpeg`` (the GPU-decode option, run on CPU here): the decode
    equals OpenCV's; crop + bilinear resize differ from cv2's fixed-point bilinear by <= 1."""
    data = _jpeg(_image(90, 160, 0))
    (img,) = decode_jpeg_torch([data], 'cpu')
    assert img.shape == (3, 90, 160)
    diff = np.abs(img.permute(1, 2, 0).numpy().astype(int) - _cv2_rgb(data))
    assert diff.max() <= 1, diff.max()  # torchvision's libjpeg build vs OpenCV's: measured 0
    frame_dir = _frame_folder(tmp_path)
    dev = TRANSFORMS.build(dict(type='SurgicalFrameCropLoader', decoder='torch',
                                decode_device='cpu', **CROP))
    for seed in range(5):
        ref = _reference(_results(frame_dir, seed))
        out = dev(_results(frame_dir, seed))
        assert np.array_equal(out['crop_bbox'], ref['crop_bbox'])
        d = np.abs(np.stack(out['imgs']).astype(int) - np.stack(ref['imgs']).astype(int))
        assert d.max() <= 1 and out['imgs'][0].dtype == np.uint8


def test_pretrain_config_uses_the_fast_loader():
    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg = Config.fromfile(osp.join(root, 'configs', '_base_', 'datasets',
                                   'pretrain_surgical.py'))
    first = TRANSFORMS.build(cfg.train_pipeline[0])
    assert type(first).__name__ == 'SurgicalFrameCropLoader' and first.turbo is not None
    assert first.crop.input_size == (224, 224) and first.crop.num_fixed_crops == 13


def _jpeg_rst(img, interval, sampling='420', quality=90):
    params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_RST_INTERVAL, interval]
    if sampling != 'gray':
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, SAMPLINGS[sampling]]
    else:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    ok, buf = cv2.imencode('.jpg', img, params)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize('sampling,interval', [('420', 1), ('420', 3), ('420', 9),
                                               ('422', 1), ('444', 1), ('444', 17), ('gray', 1)])
def test_restart_window_decode_equals_full_decode(turbo, sampling, interval):
    """With restart markers every ``interval`` MCUs (dividing a row's MCUs), only the
    segments around the box are decoded: the same pixels as a full decode, for random boxes
    on and off the MCU grid, at the image's edges, with partial MCUs (133 x 77 pixels: 9 MCUs
    per row at 4:2:0, 17 at 4:4:4 / gray)."""
    from surgvista_mm.datasets.transforms.jpeg_restart import restart_layout, window_jpeg
    img = _image(77, 133, seed=3)
    data = _jpeg_rst(img, interval, sampling)
    layout = restart_layout(data)
    assert layout is not None and layout.interval == interval
    assert layout.mcus_per_row * layout.mcu_rows // interval == len(layout.starts)
    full = turbo.decode(data, use_restarts=False)
    rng = np.random.default_rng(1)
    boxes = [(0, 0, 133, 77), (0, 0, 5, 5), (128, 72, 5, 5), (40, 30, 40, 20), (17, 0, 16, 77)]
    for _ in range(150):
        w, h = int(rng.integers(1, 134)), int(rng.integers(1, 78))
        boxes.append((int(rng.integers(0, 134 - w)), int(rng.integers(0, 78 - h)), w, h))
    smaller = 0
    for x, y, w, h in boxes:
        sub, x0, y0 = window_jpeg(data, layout, (x, y, w, h))
        smaller += len(sub) < len(data)
        assert x0 <= x and y0 <= y
        got = turbo.decode(data, (x, y, w, h))
        ref = full[y:y + h, x:x + w]
        assert np.array_equal(got.reshape(ref.shape), ref), (sampling, interval, (x, y, w, h))
    assert smaller > len(boxes) // 3  # windows really were cut out


def test_restart_layout_refuses_what_it_cannot_cut(turbo):
    from surgvista_mm.datasets.transforms.jpeg_restart import restart_layout
    img = _image(77, 133, seed=4)
    assert restart_layout(_jpeg(img)) is None                       # no restart markers
    assert restart_layout(_jpeg_rst(img, 2)) is None                # 2 does not divide 9 MCUs
    ok, prog = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1,
                                          cv2.IMWRITE_JPEG_RST_INTERVAL, 1])
    assert restart_layout(prog.tobytes()) is None                   # progressive
    data = bytearray(_jpeg_rst(img, 1))
    pos = bytes(data).rfind(b'\xff\xd3')
    data[pos + 1] = 0x00                                            # a marker lost
    assert restart_layout(bytes(data)) is None
    assert restart_layout(b'not a jpeg') is None
    # the ordinary path still decodes what the window path declines, exactly
    plain = _jpeg(img)
    assert np.array_equal(turbo.decode(plain, (10, 10, 30, 30)),
                          turbo.decode(plain)[10:40, 10:40])
