#!/usr/bin/env python
"""Clips per second of the pre-training data pipeline in one single-threaded process.

Generates ``--frames`` 854x480 JPEG frames (smooth synthetic "tissue" with mild noise, OpenCV
quality ``--quality``, 4:2:0) twice, with a restart marker every ``--restart-interval`` MCUs (as
``tools/data/extract_frames.py`` writes them; default 1) and without markers (as other tools
and the official releases write them; same pixels), and a 25-fps mp4 of the same frames. Then
times, alternately in ``--rounds`` rounds of ``--clips`` clips each (16 frames, stride 4,
random start and crop):

- ``ours``: the pipeline of ``configs/_base_/datasets/pretrain_surgical.py`` (decode of only
  the restart segments around the crop window with libjpeg-turbo, multi-scale crop, tube
  mask, packing);
- ``ours-plain``: the same on the marker-free frames (libjpeg-turbo region decode: rows above
  the window are still Huffman-decoded);
- ``ours-cv2``: the same with ``decoder='cv2'`` (full OpenCV decode, then crop: the reference
  path, and the pipeline before this change);
- ``ours-dct``: opt-in ``dct_scale=True`` (reduced-size DCT decoding; pixels change, the mean /
  max absolute difference to ``ours`` is printed);
- ``ours-nvjpeg`` (``--gpu-decode``): ``decoder='device'`` (the pipeline packs JPEG bytes; the
  data preprocessor's ``decode_packed_jpegs`` decodes them on the GPU with nvJPEG, crops and
  resizes there, in this process as in training);
- ``ours-video``: ours reading the same 16 one-fps frames from the 25-fps mp4 (decord, a seek
  per frame);
- ``mmaction2``: ``RawFrameDecode -> Resize(-1, 256) -> MultiScaleCrop -> Resize(224) ->
  FormatShape('NCTHW')`` on the same frames (the anchor), ``mmaction2-plain`` on the
  marker-free ones.

Prints median clips/s per pipeline, the median per-round ratio to mmaction2's on the same frames
(``*-plain`` to ``mmaction2-plain``) and the spread of the ratios (min-max over rounds; the
machine is shared, absolute numbers are noisy), and checks that ``ours`` and ``ours-plain``
equal ``ours-cv2`` exactly on the first clips.

    OMP_NUM_THREADS=1 python tools/benchmark/dataloader.py [--clips 20] [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List

os.environ.setdefault('OMP_NUM_THREADS', '1')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import cv2  # noqa: E402
import numpy as np  # noqa: E402

CLIP_LEN, STRIDE, FPS = 16, 4, 25


def make_frames(out_dir: str, num: int, quality: int, seed: int = 0,
                restart_interval: int = 0, plain_dir: str = '') -> None:
    """Write ``num`` 854x480 JPEG frames ``000001.jpg``... (restart marker every
    ``restart_interval`` MCUs, 0: none) and ``video.mp4`` (25 fps, each frame repeated for
    one second) into ``out_dir``, and the same frames without markers into ``plain_dir``
    when given."""
    rng = np.random.default_rng(seed)
    h, w = 480, 854
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    writer = cv2.VideoWriter(osp.join(out_dir, 'video.mp4'), cv2.VideoWriter_fourcc(*'mp4v'),
                             FPS, (w, h))
    for k in range(num):
        ph = rng.uniform(0, 6.28, 6)
        img = np.stack([150 + 60 * np.sin(xx / 61 + ph[0]) * np.cos(yy / 47 + ph[1]),
                        70 + 40 * np.sin(xx / 33 + yy / 71 + ph[2]),
                        60 + 30 * np.cos(xx / 89 - yy / 23 + ph[3])], -1)
        for _ in range(12):  # specular highlights / instruments
            cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(8, 60))
            cv2.circle(img, (cx, cy), r, tuple(float(v) for v in rng.integers(0, 255, 3)), -1)
        img = cv2.GaussianBlur(img, (0, 0), 2.0) + rng.normal(0, 3, img.shape)
        img = np.clip(img, 0, 255).astype(np.uint8)
        cv2.imwrite(osp.join(out_dir, f'{k + 1:06d}.jpg'), img,
                    [cv2.IMWRITE_JPEG_QUALITY, quality,
                     cv2.IMWRITE_JPEG_RST_INTERVAL, restart_interval])
        if plain_dir:
            cv2.imwrite(osp.join(plain_dir, f'{k + 1:06d}.jpg'), img,
                        [cv2.IMWRITE_JPEG_QUALITY, quality])
        for _ in range(FPS):
            writer.write(img)
    writer.release()


def clip_starts(num_frames: int, clips: int, seed: int) -> List[int]:
    """Random first 1-fps frame of each clip."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_frames - (CLIP_LEN - 1) * STRIDE, clips).tolist()


def build_ours(frame_dir: str, **loader_args) -> Callable[[int, int], object]:
    """The config's pre-training pipeline; returns ``run(start, seed) -> packed inputs``."""
    from mmengine.config import Config
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope

    import surgvista_mm  # noqa: F401
    init_default_scope('surgvista_mm')
    cfg = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'datasets',
                                   'pretrain_surgical.py'))
    steps = [dict(s) for s in cfg.train_pipeline]
    video = loader_args.pop('video', None)
    device = loader_args.pop('device', None)
    if loader_args:
        steps[0].update(loader_args)
    pipe = Compose(steps)

    def run(start: int, seed: int):
        inds = np.arange(start, start + CLIP_LEN * STRIDE, STRIDE)
        res = dict(video_id='bench', frame_inds=inds, rng=np.random.default_rng(seed))
        if video:
            res.update(filename=video, native_fps=float(FPS))
        else:
            res.update(frame_dir=frame_dir, filename_tmpl='{:06d}.jpg', offset=1)
        out = pipe(res)
        if device is None:
            return out['inputs']
        from surgvista_mm.models.data_preprocessors.preprocessor import decode_packed_jpegs
        item = dict(inputs=[out['inputs']], data_samples=[out['data_samples']])
        decode_packed_jpegs(item, device)
        return item['inputs'][0].cpu()  # waits for the device
    return run


def build_mmaction(frame_dir: str, num_frames: int) -> Callable[[int, int], object]:
    """mmaction2's equivalent raw-frame pipeline; returns ``run(start, seed)``."""
    import random

    from mmaction.datasets.transforms import (FormatShape, MultiScaleCrop, RawFrameDecode,
                                              Resize)
    from mmengine.dataset import Compose
    pipe = Compose([RawFrameDecode(), Resize(scale=(-1, 256)),
                    MultiScaleCrop(224, scales=(1, 0.875, 0.75, 0.66), random_crop=False,
                                   max_wh_scale_gap=1, num_fixed_crops=13),
                    Resize(scale=(224, 224), keep_ratio=False), FormatShape('NCTHW')])

    def run(start: int, seed: int):
        random.seed(seed)
        inds = np.arange(start, start + CLIP_LEN * STRIDE, STRIDE)
        res = dict(frame_dir=frame_dir, total_frames=num_frames, filename_tmpl='{:06d}.jpg',
                   modality='RGB', offset=1, frame_inds=inds, clip_len=CLIP_LEN, num_clips=1)
        return pipe(res)['imgs']
    return run


def main(argv=None) -> Dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--frames', type=int, default=120, help='1-fps frames generated')
    parser.add_argument('--clips', type=int, default=20, help='clips per pipeline per round')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--quality', type=int, default=90, help='JPEG quality of the frames')
    parser.add_argument('--restart-interval', type=int, default=1,
                        help='restart marker every N MCUs in the frames (extract_frames.py '
                             'default: 1)')
    parser.add_argument('--no-video', action='store_true', help='skip the mp4 source')
    parser.add_argument('--gpu-decode', action='store_true',
                        help="also time decoder='device' on cuda (nvJPEG)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    import torch
    torch.set_num_threads(1)
    if args.gpu_decode and not torch.cuda.is_available():
        sys.exit('--gpu-decode needs a CUDA device')
    from surgvista_mm.datasets.transforms.jpeg import default_turbojpeg

    with tempfile.TemporaryDirectory() as tmp:
        plain = osp.join(tmp, 'plain')
        os.makedirs(plain)
        t0 = time.perf_counter()
        make_frames(tmp, args.frames, args.quality, restart_interval=args.restart_interval,
                    plain_dir=plain)
        size, size_plain = (statistics.mean(osp.getsize(osp.join(d, f'{k + 1:06d}.jpg'))
                                            for k in range(args.frames)) for d in (tmp, plain))
        print(f'generated {args.frames} frames 854x480, JPEG q{args.quality}, restart marker '
              f'every {args.restart_interval} MCU(s): mean {size / 1024:.1f} KiB (without '
              f'markers {size_plain / 1024:.1f} KiB), + {args.frames} s of 25-fps mp4 in '
              f'{time.perf_counter() - t0:.1f} s; libturbojpeg: '
              f'{getattr(default_turbojpeg(), "lib_path", None)}')
        pipes = {'mmaction2': build_mmaction(tmp, args.frames),
                 'ours': build_ours(tmp),
                 'mmaction2-plain': build_mmaction(plain, args.frames),
                 'ours-plain': build_ours(plain),
                 'ours-cv2': build_ours(tmp, decoder='cv2'),
                 'ours-dct': build_ours(tmp, dct_scale=True)}
        if args.gpu_decode:
            pipes['ours-nvjpeg'] = build_ours(tmp, decoder='device', device='cuda')
        if not args.no_video:
            pipes['ours-video'] = build_ours(tmp, video=osp.join(tmp, 'video.mp4'))
        # exactness and pixel difference on a few clips
        starts = clip_starts(args.frames, args.clips, seed=1)
        exact, dmean, dmax = True, [], 0
        for i, s in enumerate(starts[:5]):
            a, a_plain, b, c = (pipes[n](s, i).numpy().astype(np.int16)
                                for n in ('ours', 'ours-plain', 'ours-cv2', 'ours-dct'))
            exact &= bool((a == b).all() and (a_plain == b).all())
            dmean.append(float(np.abs(a - c).mean()))
            dmax = max(dmax, int(np.abs(a - c).max()))
        print(f"ours == ours-plain == ours-cv2 (reference full decode) exactly: {exact}; "
              f"ours-dct vs ours: mean |diff| {statistics.mean(dmean):.2f}, max {dmax} "
              "(uint8 levels)")
        wall: Dict[str, List[float]] = {n: [] for n in pipes}
        cpu: Dict[str, List[float]] = {n: [] for n in pipes}
        for r in range(args.rounds):
            for name, run in pipes.items():
                run(starts[0], 0)  # warm
                t, c = time.perf_counter(), time.process_time()
                for i, s in enumerate(starts):
                    run(s, r * 1000 + i)
                wall[name].append(args.clips / (time.perf_counter() - t))
                cpu[name].append(args.clips / (time.process_time() - c))
    print(f'\nclips/s, one process, OMP_NUM_THREADS=1, median of {args.rounds} rounds x '
          f'{args.clips} clips (16 x 224^2, stride 4); ratio = per-round ratio to mmaction2, '
          'median [min-max]. wall: elapsed time; cpu: this process\'s CPU time (excludes time '
          'the shared machine gave to other processes: the steadier figure)')
    print(f'{"pipeline":<16} {"wall c/s":>8} {"ratio":>7} {"spread":>13}   '
          f'{"cpu c/s":>8} {"ratio":>7} {"spread":>13}')
    out = {}
    for name in pipes:
        row = f'{name:<16}'
        anchor = 'mmaction2-plain' if name.endswith('-plain') else 'mmaction2'
        for rates in (wall, cpu):
            ratios = [v / b for v, b in zip(rates[name], rates[anchor])]
            row += (f' {statistics.median(rates[name]):8.1f} {statistics.median(ratios):6.2f}x '
                    f'[{min(ratios):.2f}-{max(ratios):.2f}]  ')
        out[name] = statistics.median(cpu[name])
        print(row)
    if 'mmaction2-plain' in cpu:  # the strictest pairing: mmaction2 on frames without markers
        for rates, what in ((wall, 'wall'), (cpu, 'cpu')):
            ratios = [v / b for v, b in zip(rates['ours'], rates['mmaction2-plain'])]
            print(f'ours (marker frames) vs mmaction2-plain (marker-free frames), {what}: '
                  f'{statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]')
    print('anchor (issue 9, this machine): ours-before 25-26 clips/s, mmaction2 23.6-24.4 '
          '(1.05x); goal >= 2x')
    return out


if __name__ == '__main__':
    main()
