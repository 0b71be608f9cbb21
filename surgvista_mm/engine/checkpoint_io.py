"""Training checkpoints that load with ``torch.load(weights_only=True)``; finding a resumable one.

Writing and reading checkpoints in plain containers (:func:`to_plain`, :func:`from_plain`) and
loading them with ``weights_only=True`` (:func:`load_checkpoint_file`, allowing exactly
:data:`MMENGINE_SAFE_GLOBALS` for mmengine-format files) live in
:mod:`surgvista_mm.checkpoint.safe_load`; they are re-exported here. This module adds

* :func:`is_complete_checkpoint` and :func:`find_resume_checkpoint` pick the checkpoint that an
  auto-resume uses when ``last_checkpoint`` is missing, empty or names a truncated file.
"""
from __future__ import annotations

import glob
import os.path as osp
import re
import zipfile
from typing import List, Optional, Tuple

# the safe loader lives in the lower layer (surgvista_mm.checkpoint); re-exported here
from surgvista_mm.checkpoint.safe_load import (MMENGINE_SAFE_GLOBALS, CheckpointLoadError,
                                               _history_buffer_getattr, from_plain,
                                               load_checkpoint_file, to_plain)

__all__ = ['to_plain', 'from_plain', 'load_checkpoint_file', 'CheckpointLoadError',
           'MMENGINE_SAFE_GLOBALS', 'is_complete_checkpoint', 'find_resume_checkpoint',
           'has_training_state']


# --------------------------------------------------------------------------- finding one
def is_complete_checkpoint(path: str) -> bool:
    """True when ``path`` is a whole torch zip checkpoint (its central directory is readable and
    it holds a ``data.pkl``); a file cut short by a crash or a full disk is not."""
    if not osp.isfile(path) or osp.getsize(path) == 0:
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith('/data.pkl') or n == 'data.pkl' for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


_STEP = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], Optional[str]]:
    """The checkpoint an auto-resume should use, and a note when ``last_checkpoint`` was unusable.

    ``work_dir/last_checkpoint`` names the latest checkpoint. It is resolved relative to the work
    dir first: when ``work_dir`` holds a complete file of that name, that file is used, whatever
    folder the (absolute or cwd-relative) path names, so a copied or moved work dir resumes from
    its own files, never from the run it was copied from. When it is missing, empty, or names
    a missing or truncated file, the newest complete ``epoch_*.pth`` / ``iter_*.pth`` in
    ``work_dir`` (and in the folder ``last_checkpoint`` points to) is used instead: the highest
    number, or the latest written when both kinds are present.

    Returns:
        ``(path or None, note or None)``: no path means there is nothing to resume from.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8', errors='replace') as f:
            named = f.read().strip()
        own = osp.join(work_dir, osp.basename(named)) if named else None
        if own and is_complete_checkpoint(own):  # a copied or moved work dir: its own file
            return own, None
        if named and is_complete_checkpoint(named):
            return named, None
        problem = (f'{pointer} is empty' if not named else
                   f'{pointer} names {named!r}, which '
                   + ('does not exist' if not osp.exists(named) else 'is incomplete (truncated)'))
    else:
        problem = f'no {pointer}'
    folders = {osp.abspath(work_dir)}
    if named:
        folders.add(osp.abspath(osp.dirname(named) or work_dir))
    candidates = []
    for folder in sorted(folders):
        for path in glob.glob(osp.join(folder, '*.pth')):
            m = _STEP.match(osp.basename(path))
            if m and is_complete_checkpoint(path):
                candidates.append((m.group(1), int(m.group(2)), osp.getmtime(path), path))
    if not candidates:
        return None, (problem + ' and no complete epoch_*.pth / iter_*.pth'
                      if named or osp.isfile(pointer) else None)
    if len({kind for kind, *_ in candidates}) > 1:
        best = max(candidates, key=lambda c: (c[2], c[1]))
    else:
        best = max(candidates, key=lambda c: (c[1], c[2]))
    return best[3], f'{problem}; resuming from the newest complete checkpoint {best[3]}'


def has_training_state(checkpoint: dict) -> List[str]:
    """Names of the training-state entries (``optimizer``, ``param_schedulers``, ``meta``
    epoch/iter) a checkpoint lacks; empty when it can be resumed exactly."""
    missing = [k for k in ('optimizer', 'param_schedulers') if k not in checkpoint]
    meta = checkpoint.get('meta')
    if not isinstance(meta, dict) or 'epoch' not in meta or 'iter' not in meta:
        missing.append("meta['epoch'/'iter']")
    return missing
