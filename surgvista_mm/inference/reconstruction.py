"""Masked-reconstruction figures from pre-training checkpoints (the paper's Fig. 6).

For one causal clip: the original frames, the masked input (masked tubes greyed), the
reconstruction of each checkpoint — its normalised-pixel prediction mapped back to pixels with
the per-patch, per-channel mean and std of the original clip (visible patches show the original),
and the per-patch MSE (in the normalised-pixel space of the loss) of each checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from surgvista_mm.datasets.base_clip_dataset import causal_clip_indices
from surgvista_mm.models.utils.masking import tube_mask_numpy

__all__ = ['Reconstruction', 'load_clip', 'reconstruct', 'plot_reconstructions', 'mask_ratio_of']


@dataclass
class Reconstruction:
    """One checkpoint's reconstruction of a clip.

    Attributes:
        label: the checkpoint's caption.
        frames: reconstructed frames, uint8 ``[T, H, W, 3]``.
        patch_mse: per-token MSE in the loss's normalised-pixel space ``[T', H', W']`` (NaN for
            visible tokens).
        mean_mse: mean of ``patch_mse`` over the masked tokens (the loss's ``pixel_mse``).
    """

    label: str
    frames: np.ndarray
    patch_mse: np.ndarray
    mean_mse: float


def mask_ratio_of(cfg: Any, default: float = 0.85) -> float:
    """The tube mask ratio of a pre-training config (its ``TubeMasking`` transform)."""
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    for t in dataset.get('pipeline') or []:
        if str(t.get('type', '')).endswith('TubeMasking'):
            return float(t.get('mask_ratio', default))
    return default


def load_clip(frames: Sequence[np.ndarray], size: Tuple[int, int]) -> np.ndarray:
    """Resize RGB frames to ``size`` (H, W), bilinear: uint8 ``[T, H, W, 3]``."""
    return np.stack([cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
                     for f in frames])


def clip_frames(source: Any, t: int, clip_len: int, frame_interval: int) -> List[np.ndarray]:
    """The causal clip ending at 1-fps frame ``t`` of a :class:`~.frames.FrameSource`."""
    if not 0 <= t < source.num_frames:
        raise ValueError(f'frame {t} is outside {source.path} (0..{source.num_frames - 1})')
    return source.read(causal_clip_indices(t, clip_len, frame_interval))


def _patchify(x: torch.Tensor, pt: int, p: int) -> torch.Tensor:
    """``[C, T, H, W]`` -> ``[N, pt*p*p, C]`` (the pixel head's token layout)."""
    c, t, h, w = x.shape
    x = x.reshape(c, t // pt, pt, h // p, p, w // p, p)
    return x.permute(1, 3, 5, 2, 4, 6, 0).reshape(-1, pt * p * p, c)


def _unpatchify(x: torch.Tensor, grid: Tuple[int, int, int], pt: int, p: int) -> torch.Tensor:
    """Inverse of :func:`_patchify`: ``[N, pt*p*p, C]`` -> ``[C, T, H, W]``."""
    gt, gh, gw = grid
    c = x.shape[-1]
    x = x.reshape(gt, gh, gw, pt, p, p, c).permute(6, 0, 3, 1, 4, 2, 5)
    return x.reshape(c, gt * pt, gh * p, gw * p)


def reconstruct(model: torch.nn.Module, clip: np.ndarray, mask: np.ndarray,
                label: str = '') -> Reconstruction:
    """Reconstruct ``clip`` (uint8 ``[T, H, W, 3]``) with ``mask`` (bool ``[N]``, True = masked)
    using a ``SurgVistaPretrainer`` in eval mode."""
    from mmaction.structures import ActionDataSample
    head = model.pixel_head
    pt, p, eps = head.tubelet_size, head.patch_size, head.eps
    grid = model.backbone.token_grid
    inputs = torch.from_numpy(np.ascontiguousarray(clip.transpose(3, 0, 1, 2)))  # [3,T,H,W]
    sample = ActionDataSample()
    sample.set_field(torch.as_tensor(mask), 'mask', dtype=torch.Tensor)
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[inputs], data_samples=[sample]), False)
        out = model.extract_feat(data['inputs'], data['data_samples'])
        pixels = model.pixel_clip(data['inputs'])[0].float().cpu()  # [3, T, H, W] in [0, 1]
    pred = out['decoder_pixel_out'][0].float().cpu()  # [Nm, pt*p*p*3]
    target = out['pixel_target'][0].float().cpu()
    patches = _patchify(pixels, pt, p)  # [N, pt*p*p, 3]
    mean = patches.mean(dim=1, keepdim=True)
    std = patches.var(dim=1, unbiased=True, keepdim=True).sqrt()
    masked = torch.as_tensor(mask).nonzero().view(-1)
    rec = patches.clone()
    rec[masked] = pred.view(len(masked), -1, 3) * (std[masked] + eps) + mean[masked]
    frames = _unpatchify(rec, grid, pt, p).clamp(0, 1).permute(1, 2, 3, 0).numpy()
    mse = torch.full((patches.shape[0],), float('nan'))
    mse[masked] = ((pred - target) ** 2).mean(dim=1)
    return Reconstruction(label, np.round(frames * 255).astype(np.uint8),
                          mse.view(grid).numpy(), float(mse[masked].mean()))


def draw_mask(clip: np.ndarray, mask: np.ndarray, grid: Tuple[int, int, int], pt: int,
              p: int) -> np.ndarray:
    """The clip with masked tubes shown as grey (uint8 ``[T, H, W, 3]``)."""
    out = clip.copy()
    m = mask.reshape(grid)
    for ti in range(grid[0]):
        for hi in range(grid[1]):
            for wi in range(grid[2]):
                if m[ti, hi, wi]:
                    out[ti * pt:(ti + 1) * pt, hi * p:(hi + 1) * p, wi * p:(wi + 1) * p] = 128
    return out


def plot_reconstructions(clip: np.ndarray, mask: np.ndarray, recs: Sequence[Reconstruction],
                         grid: Tuple[int, int, int], pt: int, p: int, title: str = '',
                         max_frames: int = 8) -> Any:
    """The Fig. 6 grid: rows original / masked / (reconstruction, MSE map) per checkpoint,
    columns = frames (at most ``max_frames``, evenly spaced).

    Returns:
        The figure (axes labels ``'<row>/<column>'``).
    """
    from surgvista_mm.visualization import new_figure
    t = clip.shape[0]
    cols = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
    masked = draw_mask(clip, mask, grid, pt, p)
    rows: List[Tuple[str, Any]] = [('original', clip), ('masked input', masked)]
    vmax = max([np.nanmax(r.patch_mse) for r in recs] + [1e-6])
    for r in recs:
        rows.append((f'{r.label}\nreconstruction', r.frames))
        rows.append((f'{r.label}\nMSE {r.mean_mse:.3f}', r))
    fig = new_figure((1.3 * len(cols) + 1.6, 1.25 * len(rows) + 0.6))
    image = None
    for i, (name, data) in enumerate(rows):
        for j, c in enumerate(cols):
            ax = fig.add_subplot(len(rows), len(cols), i * len(cols) + j + 1)
            ax.set_label(f'{name.splitlines()[-1]}/{c}')
            if isinstance(data, Reconstruction):
                err = data.patch_mse[c // pt]
                image = ax.imshow(np.nan_to_num(err, nan=0.0), cmap='magma', vmin=0,
                                  vmax=vmax, interpolation='nearest')
            else:
                ax.imshow(data[c])
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name, fontsize=7)
            if i == 0:
                ax.set_title(f'frame {c}', fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=fig.axes, fraction=0.02, label='per-patch MSE (normalised)')
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def fixed_mask(grid: Tuple[int, int, int], ratio: float, seed: int = 0) -> np.ndarray:
    """A tube mask drawn from ``seed`` (the same for every checkpoint compared)."""
    return tube_mask_numpy(grid, ratio, np.random.default_rng(seed))
