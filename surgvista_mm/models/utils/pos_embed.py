"""Fixed sin-cos position tables (not learned) for video token grids.

Two layouts are provided:

* :func:`sincos_3d_table` — SurgVISTA's 3-D table: channels split
  ``[temporal D/4 | spatial 3D/4]``; each 1-D part uses ``omega_k = 1 / 10000 ** (k / (d / 2))`` laid out as ``[sin ... | cos ...]``
  (blocks); the spatial part is the MAE 2-D recipe (first half encodes the w coordinate, second
  half the h coordinate). Computed in numpy float32, which reproduces the published table exactly.
* :func:`sincos_1d_videomae_table` — VideoMAE's 1-D table over the flattened token index:
  ``angle = p / 10000 ** (2 * floor(j / 2) / D)``, ``sin`` on even and ``cos`` on odd channels
  (interleaved), computed in float64 and stored as float32.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch


def _sincos_1d(dims: int, positions: np.ndarray) -> np.ndarray:
    """Blocked 1-D sin-cos table in float32.

    Args:
        dims: even number of channels ``d``.
        positions: positions, any shape (flattened), float32.

    Returns:
        float32 array ``[P, d]``: ``[sin(p * omega_k) for k] + [cos(p * omega_k) for k]``.
    """
    if dims % 2 != 0:
        raise ValueError(f'a sin-cos table needs an even number of channels, got {dims}')
    omega = np.arange(dims // 2, dtype=np.float32) / (dims / 2.0)
    omega = (1.0 / 10000 ** omega).astype(np.float32)
    angles = np.einsum('m,d->md', positions.reshape(-1).astype(np.float32), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_3d_table(embed_dims: int, grid: Tuple[int, int, int]) -> torch.Tensor:
    """SurgVISTA's fixed 3-D sin-cos table.

    Args:
        embed_dims: channel count ``D``; ``D/4`` and ``3D/8`` must be even.
        grid: token grid ``(T', H', W')``.

    Returns:
        float32 tensor ``[1, T'*H'*W', D]`` in t-major, then h, then w token order.
    """
    t, h, w = grid
    if embed_dims % 16 != 0:
        raise ValueError(f'the 3-D sin-cos table needs embed_dims divisible by 16, '
                         f'got {embed_dims}')
    temporal_dims = embed_dims // 4
    spatial_dims = embed_dims - temporal_dims
    grid_w, grid_h = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    spatial = np.concatenate([_sincos_1d(spatial_dims // 2, grid_w),
                              _sincos_1d(spatial_dims // 2, grid_h)], axis=1)  # [h*w, 3D/4]
    temporal = _sincos_1d(temporal_dims, np.arange(t, dtype=np.float32))  # [t, D/4]
    temporal = np.repeat(temporal[:, None, :], h * w, axis=1)
    spatial = np.repeat(spatial[None, :, :], t, axis=0)
    table = np.concatenate([temporal, spatial], axis=-1).reshape(1, t * h * w, embed_dims)
    return torch.from_numpy(table.astype(np.float32))


def sincos_1d_videomae_table(embed_dims: int, num_tokens: int) -> torch.Tensor:
    """VideoMAE's interleaved 1-D sin-cos table over the flattened token index.

    Returns:
        float32 tensor ``[1, num_tokens, embed_dims]``.
    """
    positions = np.arange(num_tokens, dtype=np.float64)[:, None]
    exponents = 2 * (np.arange(embed_dims) // 2) / embed_dims
    angles = positions / np.power(10000, exponents)[None, :]
    angles[:, 0::2] = np.sin(angles[:, 0::2])
    angles[:, 1::2] = np.cos(angles[:, 1::2])
    return torch.from_numpy(angles.astype(np.float32))[None]


def build_pos_table(pos_embed_type: str, embed_dims: int,
                    grid: Tuple[int, int, int]) -> torch.Tensor:
    """Dispatch on ``pos_embed_type`` (``'sincos3d'`` or ``'sincos1d_videomae'``)."""
    if pos_embed_type == 'sincos3d':
        return sincos_3d_table(embed_dims, grid)
    if pos_embed_type == 'sincos1d_videomae':
        return sincos_1d_videomae_table(embed_dims, grid[0] * grid[1] * grid[2])
    raise ValueError(f"pos_embed_type must be 'sincos3d' or 'sincos1d_videomae', "
                     f'got {pos_embed_type!r}')
