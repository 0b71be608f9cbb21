"""Did a run learn? The pixel MSE of its last epoch against its first logged iterations."""
import json
from typing import Dict, List

import numpy as np

from .scalar_log import find_scalar_files

__all__ = ['pixel_mse_progress']


def pixel_mse_progress(work_dir: str, key: str = 'pixel_mse',
                       first_logged: int = 2) -> Dict[str, float]:
    """Mean ``key`` over the first ``first_logged`` logged iterations and over the last epoch.

    Args:
        work_dir: run folder; its ``vis_data/scalars.json`` files (one per run, resumed runs
            included) are read.
        key: the scalar (the pre-training's normalised-pixel MSE).
        first_logged: how many of the first logged values to average.

    Returns:
        ``first``, ``last``, ``ratio`` = last / first, ``last_epoch``, ``last_iter``.
    """
    rows: Dict[int, tuple] = {}
    for path in find_scalar_files(work_dir):
        with open(path, encoding='utf-8') as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                row = json.loads(line)
                if key in row and 'epoch' in row and 'iter' in row:
                    rows[int(row['iter'])] = (int(row['epoch']), float(row[key]))
    if not rows:
        raise ValueError(f'{work_dir}: no {key!r} in the training log')
    iters = sorted(rows)
    values: List[float] = [rows[i][1] for i in iters]
    last_epoch = max(e for e, _ in rows.values())
    last = [v for e, v in rows.values() if e == last_epoch]
    first = float(np.mean(values[:first_logged]))
    return dict(first=first, last=float(np.mean(last)), ratio=float(np.mean(last)) / first,
                last_epoch=float(last_epoch), last_iter=float(iters[-1]))
