"""Video ids and per-video output paths: one rule for ids, one check for every per-video write.

A video id names files and folders (``frames/<id>/``, ``pred/<id>-phase.txt``,
``features/<id>.npz``, ``<id>_phases.csv``), so it must be a single, visible path component.

**The safe id rule** (:func:`check_id`). An id is a string that

* is not empty and has at most ``MAX_ID_LEN`` (200) characters (room for suffixes such as
  ``-phase.txt`` within the usual 255-byte file-name limit);
* holds no ``/``, no ``\\``, no NUL and no other control character (U+0000..U+001F, U+007F);
* does not start with ``.`` (hidden files, ``.`` and ``..``) and holds no ``..``.

Everything else is allowed: letters (any script), digits, spaces, ``-``, ``_``, ``+``, ``@``,
``:`` ... The rule is enforced where manifests, split lists and id lists are read and written
(``datasets/manifest.py``); ``tools/build_manifest.py --id-from path`` joins the folders of a
relative path with ``__`` (``hospA/video01`` -> ``hospA__video01``, :func:`id_from_relpath`).

:func:`safe_child` is the last line of defence of every tool that writes one file or folder per
video: it resolves the final path (symbolic links included) and refuses one outside the output
folder.
"""
from __future__ import annotations

import os.path as osp
import re
from typing import Optional

__all__ = ['MAX_ID_LEN', 'PATH_ID_SEPARATOR', 'UnsafeIdError', 'UnsafePathError', 'id_problem',
           'check_id', 'id_from_relpath', 'safe_child']

MAX_ID_LEN = 200
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')
#: What joins the folders of a relative path into one id (``--id-from path``).
PATH_ID_SEPARATOR = '__'


class UnsafeIdError(ValueError):
    """A video id (or a name used as a file name) that breaks the safe id rule."""


class UnsafePathError(ValueError):
    """A per-video output path that resolves outside its output folder."""


def id_problem(value: object) -> Optional[str]:
    """What makes ``value`` an unsafe id (see the module docstring), or None when it is safe."""
    if not isinstance(value, str):
        return f'expected a string, got {type(value).__name__}'
    if not value:
        return 'it is empty'
    if len(value) > MAX_ID_LEN:
        return f'it has {len(value)} characters, more than {MAX_ID_LEN}'
    for bad, what in (('/', "'/'"), ('\\', "'\\'")):
        if bad in value:
            return f'it contains {what}'
    if _CONTROL.search(value):
        return 'it contains a NUL or another control character'
    if value.startswith('.'):
        return "it starts with '.'"
    if '..' in value:
        return "it contains '..'"
    return None


def check_id(value: object, what: str = 'video id', where: str = '') -> str:
    """Return ``value`` when it is a safe id, else raise naming it and the rule it breaks.

    Args:
        value: the id (or file-name component) to check.
        what: what it is, for the message (``'video id'``, ``'--name'``...).
        where: the file / line it comes from (prefixed to the message when given).

    Raises:
        UnsafeIdError: ``"<where>: unsafe video id '../x': it contains '/' (ids are file names:
            no '/', '\\', NUL or control characters, no leading '.', no '..', 1-200 chars)"``.
    """
    problem = id_problem(value)
    if problem is None:
        return value  # type: ignore[return-value]
    prefix = f'{where}: ' if where else ''
    raise UnsafeIdError(f'{prefix}unsafe {what} {value!r}: {problem} (ids are used as file '
                        "names: no '/', '\\', NUL or control characters, no leading '.', no "
                        f"'..', 1-{MAX_ID_LEN} characters; see surgvista_mm/utils/paths.py)")


def id_from_relpath(rel: str) -> str:
    """A safe id from a path relative to a scanned root: its components joined with ``__``
    (``hospA/video01`` -> ``hospA__video01``); checked with :func:`check_id`."""
    parts = [p for p in rel.replace('\\', '/').split('/') if p not in ('', '.')]
    return check_id(PATH_ID_SEPARATOR.join(parts), where=rel)


def safe_child(out_dir: str, name: str, what: str = 'file') -> str:
    """The path ``out_dir/name``, refused when it resolves outside ``out_dir``.

    ``name`` may hold sub-folders (``pred/video01-phase.txt``); symbolic links are resolved
    (of ``out_dir`` itself too), so neither ``..`` nor a link can lead the write elsewhere.

    Returns:
        ``os.path.join(out_dir, name)`` (unresolved, as the caller would have built it).

    Raises:
        UnsafePathError: naming ``name``, the resolved path and ``out_dir``.
    """
    path = osp.join(out_dir, name)
    base = osp.realpath(out_dir)
    final = osp.realpath(path)
    if osp.isabs(name) or final == base or osp.commonpath([base, final]) != base:
        raise UnsafePathError(f'refusing to write the {what} {name!r}: it resolves to {final}, '
                              f'outside the output folder {base}')
    return path

