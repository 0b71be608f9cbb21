"""A sampler that tells the dataset which epoch each index belongs to."""
from __future__ import annotations

from typing import Iterator, Tuple

from mmengine.dataset import DefaultSampler

from surgvista_mm.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class SurgVistaEpochSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (shuffle, seed, ``set_epoch``, ``round_up``, sharding over
    ranks) whose items are ``(index, epoch)`` pairs instead of bare indices.

    The data loader passes each item unchanged to ``dataset[item]``; datasets derived from
    ``BaseFrameClipDataset`` (e.g. ``SurgicalPretrainDataset``) seed each sample's generator from
    ``(seed, epoch, index)``, so masks and crops depend only on the sample and the epoch, not on
    the worker, the number of ranks or where a run was resumed. The dataset must accept tuple
    items: wrap it in no mmengine dataset wrapper (``ConcatDataset``, ``RepeatDataset``...); list
    several sources inside one ``SurgicalPretrainDataset`` instead.

    Args:
        dataset: the dataset to sample from.
        shuffle: shuffle each epoch (order seeded by ``seed + epoch``).
        seed: shuffling seed, identical on all ranks (None: a seed synchronised across ranks).
        round_up: pad with repeated indices so every rank gets the same number of items.
    """

    def __iter__(self) -> Iterator[Tuple[int, int]]:  # type: ignore[override]
        epoch = int(self.epoch)
        return iter([(int(i), epoch) for i in super().__iter__()])
