"""Splitting token sequences into visible and masked parts without host synchronisation.

Masks follow :mod:`surgvista_mm.models.utils.masking`: bool ``[B, N]``, True = masked, and every
row masks the same number of tokens. A stable argsort of the mask puts the visible tokens first and
the masked ones last, each group in original token order; the group sizes come from tensor shapes
(or a host-side integer), never from reading the mask back to the CPU.
"""
from __future__ import annotations

from typing import Tuple

import torch


def mask_order(mask: torch.Tensor) -> torch.Tensor:
    """Token order ``[visible..., masked...]`` (each group in original order).

    Args:
        mask: bool ``[B, N]``, True = masked.

    Returns:
        long ``[B, N]`` token indices.
    """
    if mask.dim() != 2 or mask.dtype != torch.bool:
        raise ValueError(f'mask must be a bool tensor [B, N], got {mask.dtype} '
                         f'{tuple(mask.shape)}')
    return torch.argsort(mask.to(torch.uint8), dim=1, stable=True)


def split_indices(mask: torch.Tensor, num_visible: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Indices of visible ``[B, num_visible]`` and masked ``[B, N - num_visible]`` tokens."""
    order = mask_order(mask)
    return order[:, :num_visible], order[:, num_visible:]


def gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Gather tokens: ``x`` ``[B, N, C]`` (or ``[1, N, C]``, broadcast), ``index`` ``[B, K]`` ->
    ``[B, K, C]``."""
    if x.shape[0] != index.shape[0]:
        x = x.expand(index.shape[0], -1, -1)
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def select_masked(x: torch.Tensor, mask: torch.Tensor, num_masked: int) -> torch.Tensor:
    """Masked tokens of ``x`` ``[B, N, C]`` in original order -> ``[B, num_masked, C]``."""
    _, masked = split_indices(mask, mask.shape[1] - num_masked)
    return gather_tokens(x, masked)


def count_masked(mask: torch.Tensor) -> int:
    """Number of masked tokens per row, checked equal across rows.

    Reads the mask on the host: free for CPU masks, one synchronisation for device masks (pass the
    count explicitly where it is known to avoid it).

    Raises:
        ValueError: when rows mask different numbers of tokens.
    """
    counts = mask.sum(dim=1).tolist()
    if len(set(counts)) > 1:
        raise ValueError(f'every clip of a batch must mask the same number of tokens, got counts '
                         f'{counts}; use tube masking (TubeMasking transform).')
    return int(counts[0]) if counts else 0
