#!/usr/bin/env python
"""Convert a published checkpoint to this project's layout.

Example::

    python tools/convert_checkpoint.py surgvista_pretrain.pth work/surgvista_vitb.pth \\
        --kind surgvista-pretrain
    python tools/convert_checkpoint.py endossl.pth work/endossl_teacher.pth --kind endossl
    # natural-domain baselines (docs/finetune.md): VideoMAE / MVD / UMT video encoders, timm
    # ViT-B/16 image models (supervised, DINO, MAE), mmaction2's VisionTransformer
    python tools/convert_checkpoint.py dino_vitb16.pth checkpoints/natural/dino_vitb.pth \\
        --kind timm-vit
    # surgical-domain baselines of the paper's Fig. 4 (docs/reuse.md): model.<timm key> of the
    # two-stage image encoder (timm resnet50 / vit_base / vit_large / efficientvit_m5)
    python tools/convert_checkpoint.py model_final_checkpoint_dino_surg.torch \
        checkpoints/baselines/selfsupsurg_dino.pth --kind selfsupsurg  # endovit, endossl-vit, gsvit
    # backbone of this project's own pre-training run, for fine-tuning
    python tools/convert_checkpoint.py work_dirs/demo/epoch_4.pth work/demo_backbone.pth \
        --kind surgvista-mm --config configs/pretrain/surgvista_demo.py

Every source is loaded with ``weights_only=True``. Shapes are checked against the published
architecture of the kind, or against the model of ``--config`` for other sizes. The output
(``{'state_dict', 'meta'}``) loads with ``weights_only=True``; an existing output is only replaced
with ``--force``. The summary counts dropped keys by prefix; ``--verbose`` lists each.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a clone too


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from surgvista_mm.checkpoint import KINDS
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='published checkpoint (loaded with weights_only=True)')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--kind', required=True, choices=KINDS, help='source layout')
    parser.add_argument('--config', default=None,
                        help='mmengine config whose model gives the target shapes '
                             '(default: the published architecture of the kind)')
    parser.add_argument('--force', action='store_true', help='overwrite an existing output')
    parser.add_argument('--verbose', action='store_true',
                        help='list every dropped key (default: counts by prefix)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from surgvista_mm.checkpoint import convert_file, default_target, target_from_config
    if args.config is not None:
        target = target_from_config(args.config, args.kind)
    else:
        target = default_target
    try:
        report = convert_file(args.src, args.dst, args.kind, target=target, force=args.force)
    except (KeyError, ValueError, TypeError, FileExistsError, FileNotFoundError,
            RuntimeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        hint = '' if args.config else (' (the target is the published architecture of the '
                                       'kind; pass --config for another model size)')
        print(f'error: {message}{hint}', file=sys.stderr)
        return 1
    print(report.summary(verbose=args.verbose))
    print(f'wrote {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
