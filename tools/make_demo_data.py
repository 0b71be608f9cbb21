#!/usr/bin/env python
"""Generate a small synthetic surgical-like video dataset and a random demo teacher.

Layout written under ``--out`` (default ``data/demo``)::

    frames/videoNN/000000.jpg ...        1-fps JPEG frames (0-based, '{:06d}.jpg'), H x W
    phase_annotations/videoNN-phase.txt  Cholec80-style phases: 'Frame\\tPhase', one row per
                                         25-fps frame (1-fps frame k = row 25k), phase names
    videos/webNN.mp4                     extra unlabelled videos (mp4v) at --web-fps (pre-training)
    videos/videoNN.mp4                   the test videos again as mp4v at --video-fps (a "new"
                                         video for tools/inference/online_phase.py)
    manifests/demo_frames.json           manifest of the frame-folder videos
    manifests/demo_web.json              manifest of the mp4 videos
    manifests/demo_videos.json           manifest of the test videos' mp4 files (labelled by
                                         phase_annotations/ like the frame folders)
    splits/{train,val,test}.txt          video ids (test = the last --test-videos videos, val
                                         the --val-videos before them)
    teacher/demo_teacher_vit.pth         random ViT in the EndoSSL key layout (tensor dict)
    teacher/demo_teacher_vit.json        its shape parameters
    demo_info.json                       the arguments; marks a complete dataset

Frames show a tissue-coloured smooth texture under a slowly drifting camera, tinted per phase, with
the phase's instruments (graspers, hook, clip applier, bag, irrigator) moving at the phase's speed
and little pixel noise: reconstruction has structure to learn and phases are separable
(``PHASE_STYLES``). Output is deterministic given the arguments. Existing files are
kept (an interrupted run resumes) unless ``--force``; every file is written atomically.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import os.path as osp
import sys
from typing import Dict, List

import cv2
import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from surgvista_mm.datasets.manifest import atomic_write_bytes, write_manifest  # noqa: E402
from surgvista_mm.utils.text import count  # noqa: E402

PHASES = ['Preparation', 'CalotTriangleDissection', 'ClippingCutting', 'GallbladderDissection',
          'GallbladderPackaging', 'CleaningCoagulation', 'GallbladderRetraction']
LABEL_FPS = 25


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='data/demo', help='output folder')
    p.add_argument('--videos', type=int, default=5, help='frame-folder videos with phases')
    p.add_argument('--frames', type=int, default=160, help='1-fps frames per video')
    p.add_argument('--size', type=int, default=64, help='frame height; width = size * 5 / 4')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--test-videos', type=int, default=1, help='last videos listed as test')
    p.add_argument('--val-videos', type=int, default=None,
                   help='videos before the test videos listed as validation (default 1, or 0 '
                   'when that would leave no training video)')
    p.add_argument('--web-videos', type=int, default=1, help='unlabelled mp4 videos')
    p.add_argument('--web-fps', type=float, default=4.0, help='native fps of the mp4 videos')
    p.add_argument('--video-fps', type=float, default=10.0,
                   help='native fps of the test videos written as mp4 (0: none)')
    p.add_argument('--teacher-width', type=int, default=64)
    p.add_argument('--teacher-depth', type=int, default=2)
    p.add_argument('--teacher-heads', type=int, default=2, help='recorded in the .json only')
    p.add_argument('--teacher-img', type=int, default=64)
    p.add_argument('--teacher-patch', type=int, default=16)
    p.add_argument('--teacher-mlp-ratio', type=int, default=4)
    p.add_argument('--force', action='store_true', help='overwrite existing outputs')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    args = p.parse_args(argv)
    if args.videos < 1 or args.frames < 1 or args.size < 16:
        p.error('need --videos >= 1, --frames >= 1 and --size >= 16')
    if not 0 <= args.test_videos < args.videos:
        p.error('--test-videos must be in [0, --videos)')
    if args.val_videos is None:
        args.val_videos = 1 if args.videos - args.test_videos >= 2 else 0
    if not 0 <= args.val_videos < args.videos - args.test_videos:
        p.error('--val-videos must leave at least one training video')
    if args.teacher_img % args.teacher_patch:
        p.error('--teacher-img must be a multiple of --teacher-patch')
    return args


# ------------------------------------------------------------------------------------ rendering
# Phase styles, shared by every video (so that phases are learnable across videos): a tissue tint
# (RGB factors), the instrument types on screen and a motion speed factor. Instrument types:
# 0 grasper (grey, jaws), 1 hook (dark, thin), 2 clip applier (bright, thick),
# 3 retrieval bag (green disc), 4 irrigator (white, thin, straight).
PHASE_STYLES = (
    dict(tint=(1.00, 0.80, 0.80), tools=(0,), speed=0.5),
    dict(tint=(1.00, 0.55, 0.50), tools=(0, 1), speed=1.0),
    dict(tint=(0.95, 0.85, 0.60), tools=(2,), speed=0.7),
    dict(tint=(1.00, 0.95, 0.55), tools=(1, 3), speed=1.3),
    dict(tint=(0.90, 0.60, 0.88), tools=(0, 3), speed=0.6),
    dict(tint=(0.80, 0.42, 0.38), tools=(4, 1), speed=1.6),
    dict(tint=(1.00, 0.85, 0.97), tools=(0, 2, 4), speed=0.9),
)
TOOL_GREY = (165.0, 70.0, 230.0, 0.0, 250.0)
TOOL_THICK = (1.0, 0.6, 1.5, 1.0, 0.5)


class SyntheticVideo:
    """A deterministic synthetic laparoscopic scene; ``render(t)`` for any time t in seconds.

    Learnable at toy size: the content depends on the phase (``PHASE_STYLES``: tissue tint,
    instruments, motion speed), the tissue texture is smooth (structure for masked reconstruction
    to learn) and the pixel noise is small (std 1 grey level). Phases follow each other in order
    with near-even lengths (no phase covers more than 28% of a video, so chance is below 0.3).
    """

    def __init__(self, seed: int, height: int, width: int, num_frames: int) -> None:
        rng = np.random.default_rng(seed)
        self.h, self.w = height, width
        self.pad = max(8, height // 4)
        big_h, big_w = height + 2 * self.pad, width + 2 * self.pad
        tissue = sum(self._noise(rng, big_h, big_w, cells) * amp
                     for cells, amp in ((2, 0.5), (4, 0.5)))
        tissue = np.clip((tissue - tissue.mean()) * 1.6 + 0.5, 0, 1)
        fat = self._noise(rng, big_h, big_w, 3)
        dark = np.array([110, 30, 36], np.float32)  # RGB
        pink = np.array([235, 150, 150], np.float32)
        yellow = np.array([236, 200, 130], np.float32)
        col = dark + (pink - dark) * tissue[..., None]
        fat_w = np.clip((fat - 0.65) * 4, 0, 1)[..., None]
        texture = col * (1 - fat_w) + yellow * fat_w
        for _ in range(0):  # dark vessels: smooth curves across the scene
            pts = np.stack([np.linspace(0, big_w, 24), np.cumsum(rng.normal(0, 3, 24))
                            + rng.uniform(0.1, 0.9) * big_h], 1)
            if rng.random() < 0.5:
                pts = pts[:, ::-1] * [big_h / big_w, big_w / big_h]
            cv2.polylines(texture, [np.round(pts).astype(np.int32)], False,
                          (90.0, 20.0, 30.0), 2, cv2.LINE_AA)
        self.texture = texture.astype(np.float32)
        # the endoscope's circular field of view: dark outside, a soft edge
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        r = np.hypot((yy + 0.5 - height / 2) / (height / 2), (xx + 0.5 - width / 2) / (width / 2))
        self.vignette = np.clip((1.08 - r) / 0.3, 0.35, 1.0)[..., None].astype(np.float32)
        self.drift = rng.uniform(0.02, 0.06, size=4)  # slow camera drift frequencies / phases
        k = len(PHASES)
        for _ in range(1000):  # near-even phase lengths, none above 28% of the video
            lengths = rng.dirichlet(np.full(k, 12.0))
            if lengths.max() <= 0.28 or num_frames < 4 * k:
                break
        bounds = np.round(np.cumsum(lengths) * num_frames).astype(int)
        self.phase = np.searchsorted(bounds, np.arange(num_frames), side='right').clip(0, k - 1)
        self.tools = []
        for kind in range(len(TOOL_GREY)):
            self.tools.append(dict(
                kind=kind, side=int(rng.integers(4)), entry=rng.uniform(0.25, 0.75),
                centre=rng.uniform(0.35, 0.65, size=2), amp=rng.uniform(0.1, 0.2, size=2),
                freq=rng.uniform(0.08, 0.16, size=3), phase0=rng.uniform(0, 2 * np.pi, size=3)))
        self.noise_seed = seed

    @staticmethod
    def _noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
        low = rng.random((cells + 1, cells + 1)).astype(np.float32)
        up = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
        return np.clip(up, 0, 1)

    def phase_at(self, t: float) -> int:
        return int(self.phase[min(int(t), len(self.phase) - 1)])

    def render(self, t: float) -> np.ndarray:
        """RGB uint8 frame ``[h, w, 3]`` at time ``t`` seconds."""
        f, p = self.drift[:2], self.drift[2:] * 20
        dx = int(round(self.pad * (1 + 0.8 * np.sin(2 * np.pi * f[0] * t + p[0]))))
        dy = int(round(self.pad * (1 + 0.8 * np.sin(2 * np.pi * f[1] * t + p[1]))))
        img = self.texture[dy:dy + self.h, dx:dx + self.w].copy()
        style = PHASE_STYLES[self.phase_at(t)]
        img *= np.asarray(style['tint'], np.float32)
        for kind in style['tools']:
            self._draw_tool(img, self.tools[kind], t * style['speed'])
        img = cv2.GaussianBlur(img, (3, 3), 0.6) * self.vignette
        grain = np.random.default_rng([self.noise_seed, int(round(t * 1000))]).normal(
            0, 0.5, img.shape)
        return np.clip(img + grain, 0, 255).astype(np.uint8)

    def _draw_tool(self, img: np.ndarray, tool: Dict, t: float) -> None:
        h, w = self.h, self.w
        fr, ph = tool['freq'], tool['phase0']
        tip = np.array([(tool['centre'][0] + tool['amp'][0] * np.sin(2 * np.pi * fr[0] * t + ph[0]))
                        * w, (tool['centre'][1] + tool['amp'][1]
                              * np.sin(2 * np.pi * fr[1] * t + ph[1])) * h])
        to_pt = lambda v: tuple(int(round(c)) for c in v)  # noqa: E731
        kind = tool['kind']
        if kind == 3:  # retrieval bag: a green disc with a dark rim
            r = max(4, int(h * 0.16))
            cv2.circle(img, to_pt(tip), r + 1, (20.0, 60.0, 30.0), -1, cv2.LINE_AA)
            cv2.circle(img, to_pt(tip), r, (60.0, 170.0, 80.0), -1, cv2.LINE_AA)
            return
        e = tool['entry']
        entry = np.array([[e * w, -5], [w + 5, e * h], [e * w, h + 5], [-5, e * h]][tool['side']])
        axis = tip - entry
        axis /= max(np.linalg.norm(axis), 1e-6)
        normal = np.array([-axis[1], axis[0]])
        thick = max(2, int(round(h / 9 * TOOL_THICK[kind])))
        grey = TOOL_GREY[kind]
        cv2.line(img, to_pt(entry), to_pt(tip), (grey * 0.55,) * 3, thick + 2, cv2.LINE_AA)
        cv2.line(img, to_pt(entry), to_pt(tip), (grey,) * 3, thick, cv2.LINE_AA)
        if kind == 1:  # hook: a short bent tip
            cv2.line(img, to_pt(tip), to_pt(tip + normal * h * 0.1), (grey,) * 3, thick,
                     cv2.LINE_AA)
        elif kind in (0, 2):  # jaws opening and closing
            opening = (0.25 if kind == 0 else 0.12) + 0.2 * np.sin(2 * np.pi * fr[2] * t + ph[2])
            jaw = h * 0.12
            for sgn in (-1, 1):
                d = axis * np.cos(opening) + sgn * normal * np.sin(opening)
                cv2.line(img, to_pt(tip), to_pt(tip + d * jaw), (grey * 0.7,) * 3,
                         max(2, thick // 2), cv2.LINE_AA)


# ------------------------------------------------------------------------------------ writers
class Writer:
    """Atomic writes that keep existing files unless ``force``."""

    def __init__(self, force: bool) -> None:
        self.force = force
        self.written = 0
        self.kept = 0

    def needed(self, path: str) -> bool:
        if osp.exists(path) and not self.force:
            self.kept += 1
            return False
        return True

    def bytes(self, path: str, data: bytes) -> None:
        atomic_write_bytes(path, data)
        self.written += 1


def encode_jpeg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 97])
    if not ok:
        raise RuntimeError('JPEG encoding failed')
    return buf.tobytes()


def write_mp4(path: str, frames: List[np.ndarray], fps: float) -> None:
    """Write RGB frames as an mp4v video, atomically (temporary name, then rename)."""
    tmp = osp.join(osp.dirname(path), f'.tmp_{os.getpid()}_{osp.basename(path)}')
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write mp4v videos here ({path})')
    try:
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    os.replace(tmp, path)


def count_video_frames(path: str, fps: float) -> int:
    """1-fps frames of a written video, as ``tools/build_manifest.py`` counts them."""
    import decord
    from surgvista_mm.datasets.manifest import num_frames_at_1fps
    reader = decord.VideoReader(path, num_threads=1)
    return num_frames_at_1fps(len(reader), fps)


def make_teacher(args: argparse.Namespace) -> Dict[str, torch.Tensor]:
    """Random ViT weights in the EndoSSL layout (spec §4): trunc-normal(0.02) linears, LN 1/0."""
    g = torch.Generator().manual_seed(args.seed)
    c, p = args.teacher_width, args.teacher_patch
    n = (args.teacher_img // p) ** 2
    hidden = c * args.teacher_mlp_ratio

    def tn(*shape: int) -> torch.Tensor:
        return (torch.randn(*shape, generator=g) * 0.02).clamp(-0.04, 0.04)

    sd = {'cls_token': tn(1, 1, c), 'pos_embed': tn(1, n, c),
          'patch_embed.proj.weight': tn(c, 3, p, p), 'patch_embed.proj.bias': torch.zeros(c)}
    for i in range(args.teacher_depth):
        b = f'blocks.{i}.'
        for name, (o, k) in (('attn.q', (c, c)), ('attn.k', (c, c)), ('attn.v', (c, c)),
                             ('attn.proj', (c, c)), ('mlp.fc1', (hidden, c)),
                             ('mlp.fc2', (c, hidden))):
            sd[b + name + '.weight'] = tn(o, k)
            sd[b + name + '.bias'] = torch.zeros(o)
        for norm in ('norm1', 'norm2'):
            sd[b + norm + '.weight'] = torch.ones(c)
            sd[b + norm + '.bias'] = torch.zeros(c)
    sd['norm.weight'] = torch.ones(c)
    sd['norm.bias'] = torch.zeros(c)
    return sd


# ------------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    args = parse_args(argv)
    out = args.out
    info_path = osp.join(out, 'demo_info.json')
    settings = {k: v for k, v in vars(args).items() if k not in ('out', 'force', 'no_progress')}
    if osp.exists(info_path) and not args.force:
        with open(info_path, encoding='utf-8') as f:
            old = json.load(f).get('args')
        if old == settings:
            print(f'{out}: demo data already complete (use --force to regenerate)')
            return 0
        print(f'{out} holds demo data made with other arguments {old}; use --force or another '
              '--out', file=sys.stderr)
        return 2
    w = Writer(args.force)
    height, width = args.size, (args.size + args.size // 4) // 2 * 2
    ids = [f'video{i + 1:02d}' for i in range(args.videos)]
    web_ids = [f'web{i + 1:02d}' for i in range(args.web_videos)]
    total = args.videos * args.frames + args.web_videos * int(args.frames * args.web_fps)
    bar = tqdm(total=total, desc='demo frames', unit='frame', disable=args.no_progress)
    videos = []
    for i, vid in enumerate(ids):
        scene = SyntheticVideo(args.seed * 1000 + i, height, width, args.frames)
        for k in range(args.frames):
            path = osp.join(out, 'frames', vid, f'{k:06d}.jpg')
            if w.needed(path):
                w.bytes(path, encode_jpeg(scene.render(float(k))))
            bar.update(1)
        phase_path = osp.join(out, 'phase_annotations', f'{vid}-phase.txt')
        if w.needed(phase_path):
            rows = ['Frame\tPhase'] + [f'{n}\t{PHASES[scene.phase_at(n // LABEL_FPS)]}'
                                       for n in range(args.frames * LABEL_FPS)]
            w.bytes(phase_path, ('\n'.join(rows) + '\n').encode())
        videos.append(dict(video_id=vid, frame_dir=f'frames/{vid}', num_frames=args.frames))
    web = []
    for i, vid in enumerate(web_ids):
        path = osp.join(out, 'videos', f'{vid}.mp4')
        n_native = int(args.frames * args.web_fps)
        if w.needed(path):
            scene = SyntheticVideo(args.seed * 1000 + 500 + i, height, width, args.frames)
            os.makedirs(osp.dirname(path), exist_ok=True)
            frames = []
            for n in range(n_native):
                frames.append(scene.render(n / args.web_fps))
                bar.update(1)
            write_mp4(path, frames, args.web_fps)
            w.written += 1
        else:
            bar.update(n_native)
        web.append(dict(video_id=vid, video=f'videos/{vid}.mp4',
                        num_frames=count_video_frames(path, args.web_fps), fps=args.web_fps))
    test_ids = ids[args.videos - args.test_videos:]
    mp4s = []
    for i, vid in enumerate(ids):
        if vid not in test_ids or not args.video_fps:
            continue
        path = osp.join(out, 'videos', f'{vid}.mp4')
        if w.needed(path):
            scene = SyntheticVideo(args.seed * 1000 + i, height, width, args.frames)
            os.makedirs(osp.dirname(path), exist_ok=True)
            write_mp4(path, [scene.render(n / args.video_fps)
                             for n in range(int(round(args.frames * args.video_fps)))],
                      args.video_fps)
            w.written += 1
        mp4s.append(dict(video_id=vid, video=f'videos/{vid}.mp4',
                         num_frames=count_video_frames(path, args.video_fps),
                         fps=args.video_fps))
    bar.close()
    n_train = args.videos - args.test_videos - args.val_videos
    texts = {
        osp.join(out, 'splits', 'train.txt'): '\n'.join(ids[:n_train]),
        osp.join(out, 'splits', 'val.txt'): '\n'.join(ids[n_train:n_train + args.val_videos]),
        osp.join(out, 'splits', 'test.txt'): '\n'.join(ids[args.videos - args.test_videos:]),
    }
    for path, text in texts.items():
        if w.needed(path):
            w.bytes(path, (text + '\n').encode())
    for name, vids, src in (('demo_frames.json', videos, 'demo_frames'),
                            ('demo_web.json', web, 'demo_web'),
                            ('demo_videos.json', mp4s, 'demo_videos')):
        path = osp.join(out, 'manifests', name)
        if vids and w.needed(path):
            kw = dict(filename_tmpl='{:06d}.jpg', offset=0) if src == 'demo_frames' else {}
            write_manifest(path, vids, source=src, data_root='..', **kw)
            w.written += 1
    ckpt = osp.join(out, 'teacher', 'demo_teacher_vit.pth')
    if w.needed(ckpt):
        buf = io.BytesIO()
        torch.save(make_teacher(args), buf)
        w.bytes(ckpt, buf.getvalue())
    teacher_info = dict(layout='endossl_vit', embed_dims=args.teacher_width,
                        depth=args.teacher_depth, num_heads=args.teacher_heads,
                        img_size=args.teacher_img, patch_size=args.teacher_patch,
                        mlp_ratio=args.teacher_mlp_ratio,
                        num_patches=(args.teacher_img // args.teacher_patch) ** 2)
    meta = osp.join(out, 'teacher', 'demo_teacher_vit.json')
    if w.needed(meta):
        w.bytes(meta, (json.dumps(teacher_info, indent=1) + '\n').encode())
    info = dict(args=settings, frame_size=[height, width], phases=PHASES, label_fps=LABEL_FPS,
                videos=ids, web_videos=web_ids, teacher=teacher_info)
    atomic_write_bytes(info_path, (json.dumps(info, indent=1) + '\n').encode())
    print(f'{out}: {w.written} files written, {w.kept} kept; frames {height}x{width}; '
          f'{len(ids)} frame videos x {args.frames} frames, '
          f'{count(len(web_ids), "mp4 video")}; '
          f'teacher {ckpt}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
