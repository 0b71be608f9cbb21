"""Train a config and SIGKILL this process half-way through writing one checkpoint file.

Usage: ``python -m tests.helpers.crash_during_save CONFIG WORK_DIR CHECKPOINT_NAME``: when the
runner writes ``CHECKPOINT_NAME`` (its temporary file ``.CHECKPOINT_NAME.tmp``), half of the bytes
are written and flushed to disk, then the process kills itself with SIGKILL (no clean-up runs),
as a node failure or the OOM killer would.
"""
from __future__ import annotations

import os
import os.path as osp
import signal
import sys

from mmengine.config import Config
from mmengine.fileio.backends import LocalBackend

import surgvista_mm  # noqa: F401
from surgvista_mm.engine import SurgVistaRunner


def main() -> None:
    cfg_path, work_dir, name = sys.argv[1:4]
    put = LocalBackend.put

    def put_then_die(self, obj: bytes, filepath) -> None:  # noqa: ANN001
        if osp.basename(str(filepath)) in (name, f'.{name}.tmp'):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
                f.flush()
                os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        put(self, obj, filepath)

    LocalBackend.put = put_then_die  # this process only: it dies during the save
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = work_dir
    SurgVistaRunner.from_cfg(cfg).train()


if __name__ == '__main__':
    main()
