"""Time the surgical metrics on synthetic data of benchmark size.

* phase: 100 videos x 3,000 frames, 7 phases, every relaxation mode (Cholec80 rule, 1 fps);
* triplet: 50,000 frames x 100 triplets in 50 videos, all six components, video-wise and global;
  and ivtmetrics 0.1.5 on the same data when it is installed (its numbers may differ where a class
  is absent from a video: scikit-learn >= 1.6 scores such classes 0).

Usage: ``python tools/benchmark/metrics.py [--repeat 3]``.
"""
import argparse
import os
import sys
import time
import warnings
from typing import Callable

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # run from a clone too

from surgvista_mm.evaluation.functional import phase_metrics, triplet_metrics  # noqa: E402


def best_time(fn: Callable[[], object], repeat: int) -> float:
    """Best wall-clock time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def phase_data(rng: np.random.Generator, videos: int = 100, frames: int = 3000, k: int = 7):
    """Ordered phases with noisy boundaries and random errors."""
    gts, preds = [], []
    for _ in range(videos):
        cuts = np.sort(rng.choice(np.arange(1, frames), k - 1, replace=False))
        gt = np.searchsorted(cuts, np.arange(frames), side='right')
        pred = np.roll(gt, int(rng.integers(-15, 16)))
        noise = rng.random(frames) < 0.1
        pred[noise] = rng.integers(0, k, int(noise.sum()))
        gts.append(gt)
        preds.append(pred)
    return gts, preds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=3, help='runs per measurement (best kept)')
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    gts, preds = phase_data(rng)
    print('phase: 100 videos x 3,000 frames, 7 phases')
    for relaxation in ('none', 'matlab', 'corrected'):
        t = best_time(lambda: phase_metrics(gts, preds, 7, relaxation, 'cholec80', fps=1),
                      args.repeat)
        print(f'  relaxation={relaxation:<10} {t * 1000:8.1f} ms')

    n, c, videos = 50_000, 100, 50
    targets = (rng.random((n, c)) < 0.05).astype(np.int64)
    scores = np.clip(0.3 * targets + rng.random((n, c)), 0.0, 1.0)
    video_ids = np.repeat(np.arange(videos), n // videos)
    print('triplet: 50,000 frames x 100 triplets, 50 videos, 6 components')
    t = best_time(lambda: triplet_metrics(targets, scores, video_ids), args.repeat)
    print(f'  surgvista_mm             {t * 1000:8.1f} ms')
    try:
        import ivtmetrics
    except ImportError:
        print('  ivtmetrics               not installed')
        return

    def run_ivtmetrics() -> None:
        rec = ivtmetrics.Recognition(num_class=c)
        for v in range(videos):
            rows = video_ids == v
            rec.update(targets[rows], scores[rows])
            rec.video_end()
        for comp in ('i', 'v', 't', 'iv', 'it', 'ivt'):
            rec.compute_video_AP(comp, ignore_null=True)
            rec.compute_global_AP(comp, ignore_null=True)

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        t = best_time(run_ivtmetrics, 1)  # minutes per run: measured once
    print(f'  ivtmetrics 0.1.5         {t * 1000:8.1f} ms (one run)')


if __name__ == '__main__':
    main()
