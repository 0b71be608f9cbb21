#!/usr/bin/env python
"""Online phase recognition on a video: one prediction per second from causal clips.

Example (the demo model on the demo mp4)::

    python tools/inference/online_phase.py configs/finetune/surgvista_demo_phase.py \\
        work_dirs/demo_finetune/best.pth data/demo/videos/video04.mp4 --out-dir results/

VIDEO is a video file of any frame rate or a folder of 1-fps frames. For a model trained on
frames extracted with ``--crop-margin``, give ``--manifest`` (the box recorded for this video)
or ``--crop-margin`` (found the same way), so the model sees the same pixels. Writes
``<stem>_phases.csv`` (``second, phase_id, phase_name, p_0 .. p_{C-1}``), ``<stem>_phases.json``
and ``<stem>_timeline.png`` into ``--out-dir`` and prints the real-time factor. The predictions
equal those ``tools/test.py --out-dir`` writes for the same video and checkpoint.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402

from surgvista_mm.utils.precision import add_amp_argument, inference_precision  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='fine-tuning config (its test pipeline and clip protocol)')
    p.add_argument('checkpoint', help='fine-tuned weights (weights_only=True)')
    p.add_argument('video', help='video file (any fps) or folder of 1-fps frames')
    p.add_argument('--out-dir', default='.', help='where the csv, json and png go')
    p.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    p.add_argument('--batch', type=int, default=8, help='clips per forward pass')
    p.add_argument('--fps', type=float, help="override the video's native frame rate")
    p.add_argument('--manifest', help='the manifest the training frames were extracted into: '
                   'cut the crop box recorded there for this video (extract_frames.py '
                   '--crop-margin)')
    p.add_argument('--crop-margin', action='store_true', help='find and cut the black margin '
                   'as extract_frames.py --crop-margin does')
    p.add_argument('--no-plot', action='store_true', help='skip the timeline png')
    add_amp_argument(p)
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    args = p.parse_args(argv)
    if args.batch < 1:
        p.error('--batch must be >= 1')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import surgvista_mm  # noqa: F401
    from surgvista_mm.inference.crop import apply_crop
    from surgvista_mm.inference.frames import open_frames
    from surgvista_mm.inference.model import (build_model_from_config, class_names_of,
                                              clip_protocol, load_config_file,
                                              test_pipeline_cfg)
    from surgvista_mm.inference.online import (FramePipeline, online_phase_recognition,
                                               write_online_outputs)
    try:  # every check before the long work
        cfg = load_config_file(args.config, args.cfg_options)
        pipeline = FramePipeline(test_pipeline_cfg(cfg), args.config)
        clip_len, interval = clip_protocol(cfg)
        source = open_frames(args.video, args.fps)
        crop_box = apply_crop(source, args.manifest, args.crop_margin)
        model = build_model_from_config(cfg, args.checkpoint, args.device)
        num_classes = model.cls_head.num_classes
    except (OSError, ValueError, KeyError, RuntimeError, AssertionError) as err:
        print(f'online_phase: error: {err}', file=sys.stderr)
        return 2
    names = class_names_of(cfg, num_classes)
    with inference_precision(args.device, args.amp):
        result = online_phase_recognition(model, source, pipeline, clip_len, interval, names,
                                          args.batch, progress=not args.no_progress)
    paths = write_online_outputs(result, args.out_dir,
                                 dict(config=args.config, checkpoint=args.checkpoint,
                                      device=args.device, amp=args.amp,
                                      crop_box=None if crop_box is None else list(crop_box)),
                                 plot=not args.no_plot)
    print(f'{source.video_id}: {result.probs.shape[0]} s of video in '
          f'{result.compute_seconds:.1f} s: real-time factor {result.real_time_factor:.1f}x '
          f'(seconds of video per second of compute, {args.device}, batch {args.batch}, '
          f'amp {args.amp})')
    for kind, path in paths.items():
        print(f'written {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
