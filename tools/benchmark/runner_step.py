#!/usr/bin/env python
"""Train a config for a few iterations on synthetic clips and print clips/s, data time, peak
device memory and the attention kernels used (``surgvista_mm.benchmarking.benchmark_config``).

    python tools/benchmark/runner_step.py configs/pretrain/surgvista_vitb.py --iters 20 \\
        --json work_dirs/bench/pretrain_bf16.json                  # batch 64: the config's
    torchrun --nproc_per_node 1 tools/benchmark/runner_step.py CONFIG --launcher pytorch ...

Only the data are synthetic; model, precision, optimizer and Runner are the config's (the
teacher keeps random weights). ``--cfg-options`` overrides config keys as in tools/train.py.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys
import tempfile
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from surgvista_mm.utils.config_check import CfgOptionsAction  # noqa: E402


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--batch', type=int, help="clips per iteration and rank (the config's)")
    p.add_argument('--workers', type=int, default=4, help='DataLoader workers')
    p.add_argument('--json', help='write the figures here (default: a temporary file)')
    p.add_argument('--work-dir', help='Runner work dir (default: a temporary folder)')
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    args = p.parse_args(argv)
    if args.iters <= args.warmup + 1:
        p.error('--iters must exceed --warmup + 1 (one profiled, the rest timed)')
    from surgvista_mm.benchmarking import benchmark_config
    with tempfile.TemporaryDirectory() as tmp:
        out = args.json or osp.join(tmp, 'figures.json')
        figures = benchmark_config(args.config, out, args.work_dir or tmp, args.iters,
                                   args.batch, args.launcher, args.warmup, args.workers,
                                   args.cfg_options)
    if figures:
        print('figures: ' + json.dumps(figures, sort_keys=True))
    from surgvista_mm.utils.cli import finish_distributed
    finish_distributed()
    return 0


if __name__ == '__main__':
    sys.exit(main())
