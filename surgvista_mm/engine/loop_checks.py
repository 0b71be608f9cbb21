"""Checks of the training loop made before the first iteration."""
from __future__ import annotations

from typing import Any


class EmptyEpochError(ValueError):
    """A training data loader yields no batch (e.g. ``batch_size`` > samples with ``drop_last``)."""


def check_dataloader_yields_batches(dataloader: Any, name: str = 'train_dataloader') -> None:
    """Refuse a data loader whose epoch has no batch, naming why.

    Without this, a batch larger than the dataset with ``drop_last=True`` surfaces as mmengine's
    ``epoch_length must be a positive integer`` (LR schedulers) or as an endless iteration-based
    loop.

    Args:
        dataloader: a built ``torch.utils.data.DataLoader``.
        name: the config key it was built from, for the message.

    Raises:
        EmptyEpochError: naming the batch size, the dataset's length, the samples this rank draws,
            ``drop_last`` and what to change.
    """
    try:
        if len(dataloader) > 0:
            return
    except TypeError:  # an iterable-style dataset has no length: nothing to check
        return
    dataset = dataloader.dataset
    batch_size = getattr(dataloader, 'batch_size', None)
    drop_last = getattr(dataloader, 'drop_last', None)
    sampler = getattr(dataloader, 'sampler', None)
    n_dataset = len(dataset)
    try:
        n_rank = len(sampler)
    except TypeError:
        n_rank = n_dataset
    per_rank = '' if n_rank == n_dataset else f', of which this rank draws {n_rank}'
    if n_dataset == 0:
        raise EmptyEpochError(f'{name}: the dataset ({type(dataset).__name__}) has no samples; '
                              'check its data_root, manifest and split files')
    raise EmptyEpochError(
        f'{name}: batch_size {batch_size} is larger than the {n_dataset} samples of the dataset '
        f'({type(dataset).__name__}{per_rank}) and drop_last={drop_last}, so an epoch would have '
        f'no batch. Lower {name}.batch_size to at most {n_rank} (or use fewer processes), or '
        f'set {name}.drop_last=False')
