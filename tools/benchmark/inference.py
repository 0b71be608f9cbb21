#!/usr/bin/env python
"""Per-clip latency and real-time factor of the full-size fine-tuned recognizer on the CPU.

``ours``: the recognizer of ``configs/finetune/surgvista_vitb_cholec80_phase.py``
(``Recognizer3D`` + ``SurgVistaViT`` ViT-B on all 1568 tokens + ``SurgVistaClsHead``, random
weights); ``mmaction2``: the same ``Recognizer3D`` with mmaction2's ``VisionTransformer``
(VideoMAE ViT-B, mean pooling + fc_norm) and ``TimeSformerHead`` (the same head function); both
built by ``tools/benchmark/finetune_step.py``'s ``build``. One 16x224x224 uint8 clip per call
(batch 1, as online recognition at 1 clip per second of video), ``model.test_step`` (data
preprocessor, backbone, head, softmax) under ``torch.inference_mode``, in float32 and under
bf16 autocast (``surgvista_mm.utils.precision.inference_precision``).

The four variants run in one process, alternating over ``--rounds`` rounds of ``--clips`` clips
(a shared machine's load then hits all of them alike); reported: the median per-clip latency,
the real-time factor at 1 clip per second of video (``1 s / latency``; >= 1: keeps up with the
video), the ratio to mmaction2's latency at the same precision, and the largest difference of
the predicted probabilities bf16 vs fp32 (same weights, same clips).

    python tools/benchmark/inference.py [--clips 3] [--rounds 3] [--threads N] [--json F]
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import sys
import time
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # finetune_step (model builders)
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

VARIANTS = ('ours-fp32', 'ours-bf16', 'mmaction2-fp32', 'mmaction2-bf16')


def main(argv: Optional[List[str]] = None) -> Dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--clips', type=int, default=3, help='clips per variant and round')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--threads', type=int, default=os.cpu_count(), help='torch threads')
    p.add_argument('--json', help='also write the figures here')
    args = p.parse_args(argv)
    import torch
    from finetune_step import build
    from mmaction.structures import ActionDataSample

    from surgvista_mm.utils.precision import inference_precision
    torch.set_num_threads(args.threads)
    models = {}
    for family in ('ours', 'mmaction2'):
        model, _ = build(family)
        torch.manual_seed(1)  # a random classifier (ours starts at zero: uniform outputs)
        for layer in model.cls_head.modules():
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.normal_(layer.weight, std=0.02)
        models[family] = model.eval()
    gen = torch.Generator().manual_seed(0)
    clips = [torch.randint(0, 256, (1, 3, 16, 224, 224), dtype=torch.uint8, generator=gen)
             for _ in range(args.clips)]

    def predict(variant: str, clip: torch.Tensor) -> torch.Tensor:
        family, amp = variant.split('-')
        sample = ActionDataSample()
        with torch.inference_mode(), inference_precision('cpu', 'bf16' if amp == 'bf16'
                                                         else 'none'):
            out = models[family].test_step(dict(inputs=[clip], data_samples=[sample]))
        return out[0].pred_score.float()

    probs = {v: [predict(v, c) for c in clips] for v in VARIANTS}  # also the warm-up
    latency: Dict[str, List[float]] = {v: [] for v in VARIANTS}
    cpu: Dict[str, List[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.rounds):
        for v in VARIANTS:
            for clip in clips:
                t, c = time.perf_counter(), time.process_time()
                predict(v, clip)
                latency[v].append(time.perf_counter() - t)
                cpu[v].append(time.process_time() - c)
    out = dict(threads=args.threads, clips=args.clips, rounds=args.rounds, variants={})
    print(f'per-clip latency, batch 1, 16x224x224, {args.threads} threads, median of '
          f'{args.rounds} x {args.clips} clips (alternating variants); real-time factor at 1 '
          'clip per second of video = 1 s / latency')
    print('cpu s: CPU time of this process per clip (all threads; on a shared machine the '
          'steadier figure: an idle machine gives about cpu s / threads of latency)')
    print(f'{"variant":<16} {"latency s":>9} {"min-max":>13} {"RTF":>6} {"vs mmaction2":>13} '
          f'{"cpu s":>7} {"vs mmaction2":>13}')
    for v in VARIANTS:
        med, cmed = statistics.median(latency[v]), statistics.median(cpu[v])
        other = 'mmaction2-' + v.split('-')[1]
        anchor, canchor = statistics.median(latency[other]), statistics.median(cpu[other])
        out['variants'][v] = dict(latency_s=med, min_s=min(latency[v]), max_s=max(latency[v]),
                                  real_time_factor=1.0 / med, speedup_vs_mmaction2=anchor / med,
                                  cpu_s=cmed, cpu_speedup_vs_mmaction2=canchor / cmed)
        print(f'{v:<16} {med:9.3f} {min(latency[v]):6.3f}-{max(latency[v]):.3f} {1 / med:6.2f} '
              f'{anchor / med:12.2f}x {cmed:7.2f} {canchor / cmed:12.2f}x')
    for family in ('ours', 'mmaction2'):
        diff = max(float((a - b).abs().max()) for a, b in
                   zip(probs[f'{family}-bf16'], probs[f'{family}-fp32']))
        same = sum(int(a.argmax() == b.argmax()) for a, b in
                   zip(probs[f'{family}-bf16'], probs[f'{family}-fp32']))
        out[f'{family}_bf16_vs_fp32'] = dict(max_abs_prob_diff=diff, same_argmax=same,
                                             clips=len(clips))
        print(f'{family}: bf16 vs fp32 probabilities, max |diff| {diff:.2e}, same top-1 on '
              f'{same}/{len(clips)} clips (random weights, random clips)')
    if args.json:
        from surgvista_mm.utils.io import atomic_write_json
        atomic_write_json(args.json, out)
    return out


if __name__ == '__main__':
    main()
