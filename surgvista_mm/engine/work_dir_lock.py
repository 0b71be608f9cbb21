"""One training run per work dir: an exclusive lock file holding the PID and host of its owner.

Two trainings in one work dir interleave their checkpoints, ``last_checkpoint`` and best
scores silently. :func:`acquire_work_dir_lock` takes ``WORK_DIR/train.lock`` with ``flock``
(released by the kernel when the process ends, even on ``kill -9``) and writes the owner's PID,
host, start time and command line into it, so a second run fails at start naming the first.
A lock file left by a process that no longer runs is taken over with a warning. On a file system
without ``flock`` the PID is checked instead: a dead process on this host is taken over; a lock
of another host is refused (the message says how to remove it once that run has ended).
:func:`work_dir_lock` does this on rank 0 only and tells the other ranks the outcome, so no rank
waits for a rank that stopped.
"""
from __future__ import annotations

import datetime
import errno
import json
import os
import os.path as osp
import socket
import sys
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Optional

LOCK_NAME = 'train.lock'


class WorkDirLockedError(RuntimeError):
    """Another training run holds the work dir."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read_owner(fd: int) -> Dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 65536).decode('utf-8', errors='replace').strip()
    try:
        owner = json.loads(text) if text else {}
    except ValueError:
        owner = {'unreadable': text[:200]}
    return owner if isinstance(owner, dict) else {}


def _describe(owner: Dict[str, Any]) -> str:
    if not owner:
        return 'another process (no owner recorded yet)'
    return (f"PID {owner.get('pid')} on host {owner.get('host')!r}, started "
            f"{owner.get('started', '?')}: {owner.get('command', '?')}")


def _flock(fd: int) -> Optional[bool]:
    """True: locked; False: held by another process; None: no flock on this file system."""
    import fcntl
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return None
        raise


class WorkDirLock:
    """The held lock of one work dir (see the module docstring); :meth:`release` frees it."""

    def __init__(self, path: str, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        """Remove the lock file (while still holding it) and close it. Idempotent."""
        if self._fd is None:
            return
        try:
            if osp.exists(self.path) and os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                os.unlink(self.path)
        finally:
            os.close(self._fd)
            self._fd = None


def acquire_work_dir_lock(work_dir: str, warn: Callable[[str], None] = print) -> WorkDirLock:
    """Take ``work_dir/train.lock`` for this process.

    Args:
        work_dir: the run's work dir (created if missing).
        warn: called with a message when a stale lock of a dead process is taken over.

    Raises:
        WorkDirLockedError: another live run holds it; the message names its PID, host, start
            time and command line, and the lock file.
    """
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_NAME)
    host = socket.gethostname()
    for _ in range(10):  # retried only when the file was replaced under us
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            locked = _flock(fd)
            owner = _read_owner(fd)
            if locked is False:
                raise WorkDirLockedError(
                    f'{work_dir} is in use by another training run ({_describe(owner)}; lock file '
                    f'{path}). Two runs in one work dir would interleave their checkpoints: wait '
                    'for it to end or give this run another --work-dir')
            if locked is None and owner.get('pid') is not None and owner.get('pid') != os.getpid():
                if owner.get('host') != host:
                    raise WorkDirLockedError(
                        f'{work_dir} is locked by a training run on another host '
                        f'({_describe(owner)}; lock file {path}; this file system has no flock, '
                        'so whether it still runs cannot be checked). If it has ended, delete '
                        f'{path}; otherwise give this run another --work-dir')
                if _pid_alive(int(owner['pid'])):
                    raise WorkDirLockedError(
                        f'{work_dir} is in use by another training run ({_describe(owner)}; lock '
                        f'file {path}): wait for it to end or give this run another --work-dir')
            if not osp.exists(path) or os.stat(path).st_ino != os.fstat(fd).st_ino:
                os.close(fd)  # the owner removed the file between our open and flock
                continue
            if owner.get('pid') is not None:
                warn(f'took over the lock file {path} left by a run that no longer runs '
                     f'({_describe(owner)})')
            record = dict(pid=os.getpid(), host=host,
                          started=datetime.datetime.now().isoformat(timespec='seconds'),
                          command=' '.join(sys.argv))
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, (json.dumps(record) + '\n').encode())
            os.fsync(fd)
            return WorkDirLock(path, fd)
        except BaseException:
            try:
                os.close(fd)
            except OSError:
                pass
            raise
    raise WorkDirLockedError(f'could not take the lock file {path}: it keeps being replaced')


@contextmanager
def work_dir_lock(work_dir: str, warn: Callable[[str], None] = print) -> Iterator[None]:
    """Hold ``work_dir``'s lock for the ``with`` block: on rank 0 only; in a distributed run the
    outcome is broadcast so every rank raises the same :class:`WorkDirLockedError` (none is left
    waiting in a collective for a rank that stopped)."""
    from mmengine.dist import broadcast_object_list, get_rank, get_world_size
    lock, error = None, None
    if get_rank() == 0:
        try:
            lock = acquire_work_dir_lock(work_dir, warn)
        except WorkDirLockedError as exc:
            error = str(exc)
    if get_world_size() > 1:
        shared = [error]
        broadcast_object_list(shared, src=0)
        error = shared[0]
    if error is not None:
        raise WorkDirLockedError(error)
    try:
        yield
    finally:
        if lock is not None:
            lock.release()
