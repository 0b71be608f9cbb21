#!/usr/bin/env python
"""Write the feature bank of a checkpoint: features of every 1-fps frame of every video of the
config's train / val / test splits, for the temporal stage of the two-stage paradigm.

Example (docs/twostage.md)::

    python tools/twostage/extract_bank.py configs/twostage/demo_frame.py \\
        work_dirs/demo_twostage/frame/best_phase_unrelaxed_image_accuracy_epoch_6.pth \\
        --out work_dirs/demo_twostage/bank

With a stage-1 frame config, frame t's feature is the image encoder's pooled feature of frame t;
with a SurgVISTA fine-tuning config (configs/finetune/...), the pooled fc_norm feature of the
causal clip ending at t. Writes OUT/<video_id>.npz (features [T, D], labels [T], frame_indices
[T]) and OUT/bank.json (checkpoint sha256, config, feature width, frame counts). Resumable:
finished videos are skipped; a bank of another checkpoint is refused.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from surgvista_mm.utils.config_check import CfgOptionsAction
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='the stage-1 frame config (or a SurgVISTA fine-tuning config)')
    p.add_argument('checkpoint', help='its trained weights (best_*.pth; weights_only=True)')
    p.add_argument('--out', required=True, help='bank folder')
    p.add_argument('--device', default='cpu', help="'cpu', 'cuda', 'cuda:1', ...")
    p.add_argument('--batch', type=int, default=32, help='frames (clips) per forward pass')
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction, default=None,
                   help='override config keys (e.g. the datasets\' data_root)')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import surgvista_mm  # noqa: F401  (registers the modules)
    from surgvista_mm.inference.feature_bank import StaleBankError, extract_bank
    from surgvista_mm.utils.config_check import ConfigError, load_config
    try:
        cfg = load_config(args.config, args.cfg_options)
        done = extract_bank(cfg, args.checkpoint, args.out, args.device, args.batch,
                            progress=not args.no_progress)
    except (ConfigError, StaleBankError, OSError, ValueError, KeyError, RuntimeError,
            TypeError) as err:
        print(f'extract_bank: error: {err}', file=sys.stderr)
        return 2
    bank = done['bank']
    print(f'{args.out}: {len(done["written"])} videos written, {len(done["skipped"])} already '
          f'done (skipped); feature width {bank["feature_dim"]}, '
          f'{sum(v["num_frames"] for v in bank["videos"].values())} frames, checkpoint sha256 '
          f'{bank["checkpoint_sha256"][:16]}...')
    return 0


if __name__ == '__main__':
    sys.exit(main())
