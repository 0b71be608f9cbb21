"""Tube masking: one random spatial mask per clip, repeated over every temporal slice.

Convention used everywhere in surgvista_mm: a mask is boolean with ``True`` = masked, over the
``T' * H' * W'`` tokens of a clip in t-major, then h, then w order (the token order of the
backbone). Every clip gets exactly ``int(mask_ratio * H' * W')`` masked spatial positions, so a
batch of masks can be used for boolean indexing without padding.

The same logic runs on the host (numpy, inside the data pipeline, one clip at a time) and on the
device (torch, a whole batch at once).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch


def num_masked_per_slice(num_spatial: int, mask_ratio: float) -> int:
    """Number of masked spatial positions per time slice: ``int(mask_ratio * num_spatial)``."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio}')
    return int(mask_ratio * num_spatial)


def tube_mask_numpy(grid: Tuple[int, int, int], mask_ratio: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Draw one tube mask on the host.

    Args:
        grid: token grid ``(T', H', W')``, e.g. ``(8, 14, 14)`` for a 16x224x224 clip.
        mask_ratio: fraction of spatial positions masked (0.85 in SurgVISTA).
        rng: numpy generator the permutation is drawn from.

    Returns:
        bool array ``[T' * H' * W']``, True = masked; the same spatial pattern in each slice.
    """
    t, h, w = grid
    num_spatial = h * w
    spatial = np.zeros(num_spatial, dtype=bool)
    spatial[rng.permutation(num_spatial)[:num_masked_per_slice(num_spatial, mask_ratio)]] = True
    return np.tile(spatial, t)


def tube_mask_torch(batch_size: int, grid: Tuple[int, int, int], mask_ratio: float,
                    device: Optional[torch.device | str] = None,
                    generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Draw a batch of tube masks on ``device`` (argsort of uniform noise, no host sync).

    Returns:
        bool tensor ``[batch_size, T' * H' * W']``, True = masked.
    """
    t, h, w = grid
    num_spatial = h * w
    num_masked = num_masked_per_slice(num_spatial, mask_ratio)
    noise = torch.rand(batch_size, num_spatial, device=device, generator=generator)
    ranks = noise.argsort(dim=1).argsort(dim=1)  # rank of each position in a random order
    spatial = ranks < num_masked
    return spatial.repeat(1, t)
