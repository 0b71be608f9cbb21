"""Devices the device-agnostic tests run on: the CPU always, CUDA where a GPU is present
(``tools/benchmark/gpu_check.sh`` runs them there; on a CPU-only machine the CUDA cases are
skipped, not silently dropped)."""
import pytest
import torch

DEVICES = [pytest.param('cpu'),
           pytest.param('cuda', marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                         reason='no CUDA device'))]

#: environment of a subprocess that must run on the CPU even on a machine with a GPU:
#: ``surgvista_mm.compat`` refuses a hidden GPU unless ``SURGVISTA_ALLOW_CPU=1`` says it is meant
CPU_ONLY_ENV = dict(CUDA_VISIBLE_DEVICES='', SURGVISTA_ALLOW_CPU='1')
