"""Host resources a training config needs per rank (GPU process): CPU cores and ``/dev/shm``.

Each rank runs one main process (model, data preprocessor, DataLoader pin-memory thread) and
``train_dataloader.num_workers`` worker processes; workers hand finished samples to the main
process through shared memory (``/dev/shm``): up to ``num_workers x prefetch_factor`` batches
per rank wait there. ``tools/slurm_train.sh`` requests :func:`cpus_per_rank` cores per task.
"""
from __future__ import annotations

from typing import Any, Dict

#: cores of the main process beyond its workers (the training loop + the pin-memory thread)
MAIN_PROCESS_CPUS = 2
#: PyTorch's DataLoader default
DEFAULT_PREFETCH = 2


def cpus_per_rank(cfg: Any) -> int:
    """Cores one rank uses: its training DataLoader workers + :data:`MAIN_PROCESS_CPUS`."""
    loader = cfg.get('train_dataloader') or {}
    return int(loader.get('num_workers', 0)) + MAIN_PROCESS_CPUS


def sample_bytes(cfg: Any) -> int:
    """Bytes of one training sample as workers hand it over: a uint8 clip ``3 x T x H x W``
    (``model.backbone``'s ``num_frames`` and ``img_size``; JPEG-packed clips are smaller)."""
    backbone = (cfg.get('model') or {}).get('backbone') or {}
    frames, size = int(backbone.get('num_frames', 16)), int(backbone.get('img_size', 224))
    return 3 * frames * size * size


def shm_per_rank_bytes(cfg: Any) -> int:
    """Peak ``/dev/shm`` of one rank's training DataLoader: ``num_workers x prefetch_factor x
    batch_size x`` :func:`sample_bytes` (the batches the workers may have ready)."""
    loader = cfg.get('train_dataloader') or {}
    workers = int(loader.get('num_workers', 0))
    prefetch = int(loader.get('prefetch_factor') or DEFAULT_PREFETCH) if workers else 0
    return workers * prefetch * int(loader.get('batch_size', 1)) * sample_bytes(cfg)


def describe(cfg: Any, ranks_per_node: int = 8) -> Dict[str, float]:
    """``cpus_per_rank``, ``shm_per_rank_gib`` and their per-node totals."""
    cpus, shm = cpus_per_rank(cfg), shm_per_rank_bytes(cfg) / 2 ** 30
    return dict(cpus_per_rank=cpus, shm_per_rank_gib=round(shm, 2), ranks_per_node=ranks_per_node,
                cpus_per_node=cpus * ranks_per_node,
                shm_per_node_gib=round(shm * ranks_per_node, 2))
