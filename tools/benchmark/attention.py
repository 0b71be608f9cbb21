#!/usr/bin/env python
"""Forward + backward time of one attention call per implementation, at SurgVISTA's shapes.

The measurement behind ``surgvista_mm.models.utils.transformer.choose_attention`` ('auto'):
for each shape (encoder 240 visible tokens x 12 heads, decoders 1568 tokens x 6 heads, ViT-L
teacher 196 tokens x 16 heads, fine-tuning 1568 tokens x 12 heads) and dtype (fp32, bf16
autocast), times

- ``sdpa``: ``F.scaled_dot_product_attention`` (PyTorch picks the backend: the CPU flash kernel
  here, flash / memory-efficient / cuDNN on CUDA);
- ``sdpa-math``: SDPA restricted to its math backend;
- ``math``: the explicit ``softmax(q k^T * scale) v`` path (matmuls in the autocast dtype,
  softmax in float32 under autocast);
- ``onednn`` (float32 on CPU): oneDNN GEMMs in query blocks with a flash-style backward
  (``models.utils.onednn_attention``).

The last column is what 'auto' picks for that shape and dtype, and its ratio to ``sdpa``.

Medians of ``--reps`` alternating repetitions; prints ms and the ratio to ``sdpa``.

    OMP_NUM_THREADS=1 python tools/benchmark/attention.py [--device cpu] [--reps 5]
"""
from __future__ import annotations

import argparse
import os.path as osp
import statistics
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

SHAPES = {  # name: (batch, heads, tokens, head dims)
    'encoder (B2, 240 tok)': (2, 12, 240, 64),
    'decoder (B2, 1568 tok)': (2, 6, 1568, 64),
    'teacher (16 img, 196 tok)': (16, 16, 196, 64),
    'finetune (B1, 1568 tok)': (1, 12, 1568, 64),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--no-backward', action='store_true', help='forward only (teacher)')
    args = parser.parse_args(argv)
    from surgvista_mm.models.utils.transformer import attention, choose_attention
    device = torch.device(args.device)
    print(f'attention fwd{"" if args.no_backward else "+bwd"} ms on {device}, '
          f'torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.reps}')
    print(f'{"shape":<27}{"dtype":<7}{"sdpa":>9}{"sdpa-math":>11}{"math":>9}{"onednn":>9}'
          '   best   auto picks')
    for name, (b, h, n, d) in SHAPES.items():
        for dtype in (None, torch.bfloat16):
            # under autocast q, k, v come out of the qkv Linear in the autocast dtype
            # views of one [B, N, 3, heads, D] qkv output, as QVBiasAttention makes them
            qkv = torch.randn(b, n, 3, h, d, device=device, dtype=dtype or torch.float32,
                              requires_grad=True)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
            impls = ('sdpa', 'sdpa-math', 'math') + (
                ('onednn',) if dtype is None and device.type == 'cpu' else ())
            times = {impl: [] for impl in impls}
            for rep in range(args.reps + 1):
                for impl in times:
                    with torch.autocast(device.type, dtype=dtype or torch.float32,
                                        enabled=dtype is not None):
                        t = time.perf_counter()
                        out = attention(q, k, v, d ** -0.5, 0.0, impl)
                        if not args.no_backward:
                            out.float().sum().backward()
                        if device.type == 'cuda':
                            torch.cuda.synchronize()
                        if rep:  # the first repetition warms up
                            times[impl].append(1e3 * (time.perf_counter() - t))
            med = {k_: statistics.median(v_) for k_, v_ in times.items()}
            best = min(med, key=med.get)
            with torch.autocast(device.type, dtype=dtype or torch.float32,
                                enabled=dtype is not None):
                auto = choose_attention(q)
            onednn = f'{med["onednn"]:>9.1f}' if 'onednn' in med else f'{"-":>9}'
            print(f'{name:<27}{"bf16" if dtype else "fp32":<7}{med["sdpa"]:>9.1f}'
                  f'{med["sdpa-math"]:>11.1f}{med["math"]:>9.1f}{onednn}   {best} '
                  f'({med["sdpa"] / med[best]:.2f}x sdpa)   {auto} '
                  f'({med["sdpa"] / med[auto]:.2f}x sdpa)')


if __name__ == '__main__':
    main()
