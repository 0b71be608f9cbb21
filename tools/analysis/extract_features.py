#!/usr/bin/env python
"""Extract the pooled (fc_norm) feature of every 1-fps frame's causal clip, per video.

Example::

    python tools/analysis/extract_features.py configs/finetune/surgvista_demo_phase.py \\
        work_dirs/demo_finetune/best.pth --manifest data/demo/manifests/demo_frames.json \\
        --out-dir work_dirs/demo_features

CHECKPOINT may also be a pre-training checkpoint (``work_dirs/demo/epoch_10.pth``) or a converted
encoder: the encoder is then loaded as fine-tuning starts from it and the features are its
pooled tokens (the config gives the clip protocol and pipeline)::

    python tools/analysis/extract_features.py configs/finetune/surgvista_demo_phase.py \
        work_dirs/demo/epoch_10.pth --manifest data/demo/manifests/demo_frames.json \
        --out-dir work_dirs/demo_encoder_features

Writes ``DIR/<video_id>.npz`` (``features [T, D]`` float32, ``frame_indices [T]``) atomically;
videos already done are skipped (resumable).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from surgvista_mm.utils.config_check import CfgOptionsAction  # noqa: E402
from surgvista_mm.utils.precision import add_amp_argument, inference_precision  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint', help='fine-tuned weights, or a pre-training checkpoint / '
                   'converted encoder (weights_only=True)')
    p.add_argument('--manifest', required=True, help='manifest of the videos')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--include', help='only these video ids (comma-separated or an id-list file)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--batch', type=int, default=8)
    add_amp_argument(p)
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                   help='override config keys, e.g. data_root=data/mine')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import surgvista_mm  # noqa: F401
    from surgvista_mm.datasets.manifest import load_manifest, read_id_list, select_entries
    from surgvista_mm.inference.features import extract_features
    from surgvista_mm.inference.model import (build_feature_model, clip_protocol,
                                              load_config_file, test_pipeline_cfg)
    from surgvista_mm.inference.online import FramePipeline
    try:
        cfg = load_config_file(args.config, args.cfg_options)
        pipeline = FramePipeline(test_pipeline_cfg(cfg), args.config)
        clip_len, interval = clip_protocol(cfg)
        include = args.include
        if include and not osp.isfile(include):
            include = [x for x in include.split(',') if x]
        entries = select_entries(load_manifest(args.manifest), read_id_list(include, 'include'),
                                 None, 1, args.manifest)
        model, kind = build_feature_model(cfg, args.checkpoint, args.device)
        if kind == 'encoder':
            print(f'{args.checkpoint}: no classification head: the encoder as fine-tuning starts '
                  'from it (pooled tokens, fc_norm at its initialisation)')
        with inference_precision(args.device, args.amp):
            done = extract_features(model, entries, pipeline, clip_len, interval, args.out_dir,
                                    args.batch, progress=not args.no_progress)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        print(f'extract_features: error: {err}', file=sys.stderr)
        return 2
    print(f'{args.out_dir}: {len(done["written"])} videos written, {len(done["skipped"])} '
          'already done (skipped)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
