#!/usr/bin/env python
"""Masked-reconstruction figure (the paper's Fig. 6) from pre-training checkpoints.

Example (the demo pre-training; give --checkpoint twice to compare two runs side by side)::

    python tools/analysis/visualize_reconstruction.py configs/pretrain/surgvista_demo.py \\
        --checkpoint work_dirs/demo/epoch_20.pth --checkpoint work_dirs/demo/epoch_1.pth \\
        --manifest data/demo/manifests/demo_frames.json --video-id video01 --frame 40 \\
        --out work_dirs/demo/reconstruction.png

Rows: original frames, masked input, and per checkpoint its reconstruction (normalised-pixel
prediction mapped back with the original clip's per-patch mean/std) and per-patch MSE map.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='pre-training config')
    p.add_argument('--checkpoint', action='append', required=True,
                   help='pre-training checkpoint of this project (repeat to compare)')
    p.add_argument('--label', action='append', help='caption per --checkpoint')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--manifest', help='manifest; the clip comes from --video-id')
    src.add_argument('--video', help='a video file or folder of 1-fps frames')
    p.add_argument('--video-id', help='video of the manifest (default: its first)')
    p.add_argument('--frame', type=int, default=None, help='last 1-fps frame of the clip '
                   '(default: the middle of the video)')
    p.add_argument('--mask-ratio', type=float, help="default: the config's TubeMasking ratio")
    p.add_argument('--seed', type=int, default=0, help='seed of the tube mask')
    p.add_argument('--max-frames', type=int, default=8, help='columns (frames, evenly spaced)')
    p.add_argument('--dpi', type=int, default=100)
    p.add_argument('--out', required=True, help='output image (png, pdf, svg)')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import surgvista_mm  # noqa: F401
    from surgvista_mm.datasets.manifest import load_manifest
    from surgvista_mm.inference import reconstruction as R
    from surgvista_mm.inference.frames import open_frames, open_manifest_entry
    from surgvista_mm.inference.model import build_model_from_config, load_config_file
    from surgvista_mm.visualization import save_figure
    labels = args.label or []
    if len(labels) not in (0, len(args.checkpoint)):
        print('visualize_reconstruction: error: give one --label per --checkpoint',
              file=sys.stderr)
        return 2
    try:
        cfg = load_config_file(args.config)
        if args.manifest:
            entries = load_manifest(args.manifest)
            chosen = [e for e in entries if args.video_id in (None, e.video_id)]
            if not chosen:
                raise ValueError(f'{args.manifest}: no video {args.video_id!r}')
            source = open_manifest_entry(chosen[0])
        else:
            source = open_frames(args.video)
        dataset = cfg.train_dataloader.dataset
        clip_len = int(dataset.get('clip_len', 16))
        interval = int(dataset.get('frame_interval', 4))
        t = source.num_frames // 2 if args.frame is None else args.frame
        models = [build_model_from_config(cfg, path) for path in args.checkpoint]
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        print(f'visualize_reconstruction: error: {err}', file=sys.stderr)
        return 2
    backbone = models[0].backbone
    clip = R.load_clip(R.clip_frames(source, t, clip_len, interval), backbone.img_size)
    ratio = args.mask_ratio if args.mask_ratio is not None else R.mask_ratio_of(cfg)
    mask = R.fixed_mask(backbone.token_grid, ratio, args.seed)
    recs = [R.reconstruct(m, clip, mask, lab) for m, lab in
            zip(models, labels or [osp.basename(c) for c in args.checkpoint])]
    fig = R.plot_reconstructions(clip, mask, recs, backbone.token_grid, backbone.tubelet_size,
                                 backbone.patch_size[0],
                                 title=f'{source.video_id}, clip ending at {t} s, mask ratio '
                                       f'{ratio:g}', max_frames=args.max_frames)
    save_figure(fig, args.out, dpi=args.dpi)
    for r in recs:
        print(f'{r.label}: pixel MSE of the masked patches {r.mean_mse:.4f}')
    print(f'written {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
