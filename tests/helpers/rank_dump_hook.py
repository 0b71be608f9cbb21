"""A test-only hook: every rank saves its final model weights (to compare ranks after DDP)."""
import os

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from surgvista_mm.registry import HOOKS


@HOOKS.register_module()
class _TestRankWeightsDumpHook(Hook):
    def after_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        path = os.path.join(runner.work_dir, f'rank{runner.rank}_final.pth')
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
