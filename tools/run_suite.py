#!/usr/bin/env python
"""Run a benchmark suite (models x datasets x seeds: fine-tune, test, report); see
docs/benchmark_suite.md. Example::

    python tools/run_suite.py configs/suites/demo.py --work-dir work_dirs/demo_suite
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a clone too

from surgvista_mm.benchmark.cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
