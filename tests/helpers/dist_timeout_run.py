"""One rank of a 2-rank gloo run in which rank 1 stops (SIGSTOP) at its second iteration.

Usage (environment of torchrun: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT):
``python -m tests.helpers.dist_timeout_run WORK_DIR TIMEOUT_S``. The run goes through
``surgvista_mm.utils.cli.build_runner`` (the tools' path); rank 0 is expected to fail with
``DistributedTimeoutError`` after ``TIMEOUT_S`` seconds instead of waiting for rank 1 forever.
"""
from __future__ import annotations

import os
import signal
import sys

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch.utils.data import Dataset

import surgvista_mm  # noqa: F401
from surgvista_mm.registry import DATASETS, HOOKS, MODELS
from surgvista_mm.utils.cli import build_runner


@MODELS.register_module()
class _TimeoutToyModel(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, mode='loss'):  # noqa: ANN001, ANN201
        return dict(loss=self.linear(inputs).pow(2).mean())


@DATASETS.register_module()
class _TimeoutToyDataset(Dataset):
    metainfo: dict = {}

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int):  # noqa: ANN201
        return dict(inputs=torch.full((2,), float(i)))


@HOOKS.register_module()
class _StopRank1Hook(Hook):
    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:  # noqa: ANN001
        if runner.rank == 1 and batch_idx == 1:
            os.kill(os.getpid(), signal.SIGSTOP)  # stops responding, as a hung node would


def main() -> None:
    work_dir, timeout = sys.argv[1], float(sys.argv[2])
    cfg = Config(dict(
        default_scope='surgvista_mm', work_dir=work_dir, launcher='pytorch',
        model=dict(type='_TimeoutToyModel'),
        train_dataloader=dict(dataset=dict(type='_TimeoutToyDataset'), batch_size=2,
                              num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        env_cfg=dict(dist_cfg=dict(backend='gloo', timeout=timeout)),
        default_hooks=dict(checkpoint=dict(type='SurgVistaCheckpointHook', interval=100)),
        custom_hooks=[dict(type='_StopRank1Hook')], log_level='WARNING'))
    runner, _ = build_runner(cfg, '<toy>', 'pytorch')
    runner.train()


if __name__ == '__main__':
    main()
