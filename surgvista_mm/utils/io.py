"""Atomic file writes: write a temporary file in the target folder, then rename it over.

Every file the project writes for the user (manifests, results, figures, converted weights) goes
through :func:`atomic_writer`, so a reader sees either the old file or the whole new one, and an
interrupted write leaves nothing behind. The result gets the permissions a plain ``open`` would
give (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from contextlib import contextmanager
from typing import IO, Any, Dict, Iterator


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _default_mode() -> int:
    return 0o666 & ~_umask()


def default_dir_mode() -> int:
    """The permissions ``os.makedirs`` gives a folder (``0o777`` less the umask), for folders
    made with ``tempfile.mkdtemp`` (private ``0o700``) and then renamed into place."""
    return 0o777 & ~_umask()


@contextmanager
def atomic_writer(path: str, mode: str = 'wb') -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success, rename it to ``path``.

    Args:
        path: destination; its folder is created if needed.
        mode: ``'wb'`` or ``'w'`` (UTF-8 text).
    """
    if mode not in ('wb', 'w'):
        raise ValueError(f'atomic_writer mode must be "wb" or "w", got {mode!r}')
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp',
                               dir=folder)
    try:
        with os.fdopen(fd, mode, **({'encoding': 'utf-8'} if mode == 'w' else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the whole new file."""
    with atomic_writer(path, 'wb') as f:
        f.write(data)


def atomic_write_text(path: str, text: str) -> None:
    """Atomically write UTF-8 text."""
    atomic_write_bytes(path, text.encode('utf-8'))


def _nan_to_none(obj: Any) -> Any:  # and +-inf
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def read_text(path: str) -> str:
    """The UTF-8 text of ``path``, a leading byte-order mark (BOM) removed.

    Raises:
        ValueError: the file is not UTF-8, naming it, the line and the byte offset (instead of
            Python's ``'utf-8' codec can't decode byte 0xe9 in position 20``, which names no
            file).
    """
    with open(path, 'rb') as f:
        raw = f.read()
    try:
        return raw.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b'\n') + 1
        raise ValueError(f'{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x} at offset '
                         f'{e.start}); save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)') \
            from e


def read_npz(path: str) -> Dict[str, Any]:
    """Every array of a ``.npz`` file, read without unpickling.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file: not an ``.npz`` (zip) archive, a damaged one, or one holding
            Python objects (object arrays are never unpickled: that could run code; save plain
            numeric / string arrays).
    """
    import zipfile

    import numpy as np
    if not os.path.isfile(path):
        raise FileNotFoundError(f'file not found: {path}')
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic != b'PK\x03\x04':
        raise ValueError(f'{path} is not an .npz file (a zip archive of arrays, as numpy.savez '
                         f'writes): it starts with {magic!r}')
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as e:
        if 'pickle' in str(e):
            raise ValueError(f'{path} holds Python objects (an object array), which are never '
                             'unpickled (that could run code); save plain numeric or string '
                             'arrays') from None
        raise ValueError(f'{path} is a damaged .npz file ({e})') from e
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f'{path} is a damaged .npz file ({type(e).__name__}: {e})') from e


def read_json(path: str, what: str) -> Any:
    """Parse a JSON file; errors name ``what`` and the path.

    Raises:
        FileNotFoundError: ``{what} not found: {path}``.
        ValueError: the file is not valid JSON.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    with open(path, encoding='utf-8') as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{path} is not valid JSON: {e}') from e


def atomic_write_json(path: str, obj: Any, indent: int = 2) -> None:
    """Atomically write JSON; NaN and infinite floats become ``null`` (strict JSON has neither)."""
    atomic_write_text(path, json.dumps(_nan_to_none(obj), indent=indent, allow_nan=False) + '\n')


def file_sha256(path: str, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes, read ``chunk`` bytes at a time (checkpoint hashes in
    converted files' ``meta``, feature banks' ``bank.json`` and benchmark reports)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()
