"""Data preprocessor: uint8 clips to the device, ImageNet normalisation there."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmaction.models import ActionDataPreprocessor

from surgvista_mm.registry import MODELS

IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)
IMAGENET_STD_255 = (58.395, 57.12, 57.375)


@MODELS.register_module()
class SurgVistaDataPreprocessor(ActionDataPreprocessor):
    """mmaction2's ``ActionDataPreprocessor`` with SurgVISTA defaults and mask bookkeeping.

    Inputs are uint8 clips ``[1, 3, T, H, W]`` per sample (``NCTHW``); the output is
    ``(x - mean) / std`` in float32 on the device, ``[B, 1, 3, T, H, W]``. ``mean``/``std`` are
    in 0-255 units and kept as Python floats (:attr:`mean_values`, :attr:`std_values`) so that the
    pre-training algorithm can un-normalise with exactly the same constants.

    When the samples carry a ``mask`` field (tube masking in the pipeline), the number of masked
    tokens is read on the host before the transfer and stored as ``num_masked`` in each sample's
    metainfo, so the model never reads a device mask back.

    Host-to-device copies are ``non_blocking``: from the pinned batches of a DataLoader with
    ``pin_memory=True`` (every training config) they overlap with the GPU's work.

    Clips packed as JPEG bytes (``SurgicalFrameCropLoader(decoder='device')``, metainfo
    ``jpeg_lengths`` / ``decode_box`` / ``decode_size``) are decoded here, in the main process,
    on this module's device (the rank's own GPU: nvJPEG; the CPU: libjpeg), cropped and resized
    bilinearly (``jpeg.crop_resize_uint8``). A decoding error is raised as it is, naming the
    video (a device error is never turned into a "bad sample" to skip).

    Args:
        mean: channel means (0-255).
        std: channel standard deviations (0-255).
        to_rgb: swap BGR to RGB.
        blending: mmaction2 batch blending config (mixup / cutmix), training only.
        format_shape: ``'NCTHW'``.
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN_255,
                 std: Sequence[float] = IMAGENET_STD_255, to_rgb: bool = False,
                 blending: Optional[Dict] = None, format_shape: str = 'NCTHW') -> None:
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'mean and std need 3 values each, got {mean!r} and {std!r}')
        super().__init__(mean=mean, std=std, to_rgb=to_rgb, to_float32=True, blending=blending,
                         format_shape=format_shape)
        self.mean_values: Tuple[float, ...] = tuple(float(v) for v in mean)
        self.std_values: Tuple[float, ...] = tuple(float(v) for v in std)
        # mmengine's BaseDataPreprocessor.cast_data reads this flag; ActionDataPreprocessor
        # does not expose it
        self._non_blocking = True

    def forward(self, data: Union[dict, Tuple[dict]], training: bool = False
                ) -> Union[dict, Tuple[dict]]:
        """Annotate mask counts (host side), decode JPEG-packed clips on the device, then cast,
        normalise and blend as mmaction2."""
        for item in (data if isinstance(data, (tuple, list)) else [data]):
            if isinstance(item, dict):
                annotate_num_masked(item.get('data_samples'))
                decode_packed_jpegs(item, self.device)
        return super().forward(data, training)


def decode_packed_jpegs(item: dict, device: torch.device) -> None:
    """Replace the JPEG-packed clips of a batch ``item`` by uint8 ``[3, T, h, w]`` clips decoded
    on ``device`` (in place; clips without ``jpeg_lengths`` metainfo are left as they are).

    Raises:
        RuntimeError: decoding failed (corrupt data, or a device error), naming the video and
            the device.
    """
    from surgvista_mm.datasets.transforms.jpeg import crop_resize_uint8, decode_jpeg_torch
    samples = item.get('data_samples') or []
    inputs = item.get('inputs')
    if not samples or not isinstance(inputs, (list, tuple)):
        return
    decoded = list(inputs)
    for i, sample in enumerate(samples):
        lengths = sample.metainfo.get('jpeg_lengths') if hasattr(sample, 'metainfo') else None
        if lengths is None:
            continue
        data = inputs[i].cpu().numpy().tobytes()
        offsets = [0]
        for n in lengths:
            offsets.append(offsets[-1] + int(n))
        if offsets[-1] != len(data):
            raise ValueError(f'video {sample.metainfo.get("video_id")!r}: packed JPEG bytes '
                             f'({len(data)}) differ from jpeg_lengths (sum {offsets[-1]})')
        frames = [data[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
        try:
            imgs = decode_jpeg_torch(frames, str(device))
        except RuntimeError as exc:
            raise RuntimeError(f'decoding the JPEG frames of video '
                               f'{sample.metainfo.get("video_id")!r} on {device} failed: {exc}') \
                from exc
        clip = crop_resize_uint8(imgs, tuple(sample.metainfo['decode_box']),
                                 tuple(sample.metainfo['decode_size']))
        decoded[i] = clip.permute(1, 0, 2, 3).contiguous()  # [T, 3, h, w] -> [3, T, h, w]
    item['inputs'] = decoded


def annotate_num_masked(data_samples: Optional[Sequence]) -> None:
    """Store ``num_masked`` (int) in the metainfo of samples with a host-side ``mask``.

    Raises:
        ValueError: when the samples of a batch mask different numbers of tokens.
    """
    if not data_samples or not all('mask' in sample for sample in data_samples):
        return
    masks = [sample.mask for sample in data_samples]
    if any(not isinstance(m, torch.Tensor) or m.device.type != 'cpu' for m in masks):
        return
    counts = torch.stack([m.reshape(-1) for m in masks]).sum(dim=1).tolist()
    if len(set(counts)) != 1:
        raise ValueError(f'every clip of a batch must mask the same number of tokens, got '
                         f'{counts}; use the TubeMasking transform')
    for sample in data_samples:
        sample.set_metainfo(dict(num_masked=int(counts[0])))
