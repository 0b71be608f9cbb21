"""Benchmark helpers: synthetic clips, a timing hook, a config's Runner on synthetic data, and
the one-shot GPU check (``tools/benchmark/gpu_check.sh``)."""
from .runner_bench import (SurgVistaBenchmarkHook, SyntheticClipDataset, attention_ops,
                           benchmark_config)

__all__ = ['SyntheticClipDataset', 'SurgVistaBenchmarkHook', 'benchmark_config',
           'attention_ops']
