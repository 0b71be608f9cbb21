#!/usr/bin/env python
"""float32 CPU Linear layers: PyTorch's BLAS path (``F.linear``, MKL in the official wheels)
against oneDNN (``surgvista_mm.models.utils.linear``, ``impl='onednn'``), forward and
forward + backward, at the GEMM shapes of SurgVISTA pre-training and fine-tuning.

Prints ms per call (median of ``--reps``), GFLOP/s and the speed-up, plus the largest absolute
difference of the outputs and gradients (both are float32 GEMMs; only the summation order
differs).

    OMP_NUM_THREADS=1 python tools/benchmark/linear.py [--reps 5]
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import sys
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402

from surgvista_mm.models.utils.linear import linear, onednn_linear_available  # noqa: E402

# (name, tokens M, in K, out N): batch 2 pre-training / batch 1 fine-tuning
SHAPES = [
    ('teacher fc1 (16 imgs x 197)', 3152, 1024, 4096),
    ('teacher q/k/v/proj', 3152, 1024, 1024),
    ('encoder qkv (2 x 240 visible)', 480, 768, 2304),
    ('encoder fc1', 480, 768, 3072),
    ('decoder fc1 (2 x 1568)', 3136, 384, 1536),
    ('pixel head (2 x 1333 masked)', 2666, 384, 1536),
    ('fine-tune qkv (1568)', 1568, 768, 2304),
    ('fine-tune fc1', 1568, 768, 3072),
    ('fine-tune fc2', 1568, 3072, 768),
]


def timed(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--reps', type=int, default=5)
    args = parser.parse_args()
    if not onednn_linear_available():
        sys.exit('this PyTorch has no oneDNN linear op (mkldnn::_linear_pointwise)')
    print(f'torch {torch.__version__}, {torch.get_num_threads()} thread(s), '
          f'CPU capability {torch.backends.cpu.get_cpu_capability()}')
    print(f'{"shape":32s} {"M x K x N":>18s} | {"fwd torch":>9s} {"onednn":>7s} {"x":>5s} | '
          f'{"fwd+bwd torch":>13s} {"onednn":>7s} {"x":>5s} {"GFLOP/s":>11s} | max |diff|')
    gen = torch.Generator().manual_seed(0)
    total = {'torch': 0.0, 'onednn': 0.0}
    for name, m, k, n in SHAPES:
        x = torch.randn(m, k, generator=gen, requires_grad=True)
        w = torch.randn(n, k, generator=gen, requires_grad=True)
        b = torch.randn(n, generator=gen, requires_grad=True)
        g = torch.randn(m, n, generator=gen)
        res = {}
        for impl in ('torch', 'onednn'):
            with torch.no_grad():
                fwd = timed(lambda: linear(x, w, b, impl), args.reps)

            def step():
                x.grad = w.grad = b.grad = None
                linear(x, w, b, impl).backward(g)
            both = timed(step, args.reps)
            step()
            res[impl] = (fwd, both, linear(x, w, b, impl).detach(), x.grad.clone(), w.grad.clone())
            total[impl] += both
        diff = max((res['torch'][i] - res['onednn'][i]).abs().max().item() for i in (2, 3, 4))
        flop = 6 * m * k * n
        print(f'{name:32s} {f"{m}x{k}x{n}":>18s} | {res["torch"][0] * 1e3:8.1f} '
              f'{res["onednn"][0] * 1e3:7.1f} {res["torch"][0] / res["onednn"][0]:4.2f}x | '
              f'{res["torch"][1] * 1e3:12.1f} {res["onednn"][1] * 1e3:7.1f} '
              f'{res["torch"][1] / res["onednn"][1]:4.2f}x '
              f'{flop / res["torch"][1] / 1e9:5.0f}/{flop / res["onednn"][1] / 1e9:<5.0f} | {diff:.1e}')
    print(f'all shapes, fwd+bwd: torch {total["torch"]:.2f} s, onednn {total["onednn"]:.2f} s: '
          f'{total["torch"] / total["onednn"]:.2f}x')


if __name__ == '__main__':
    main()
