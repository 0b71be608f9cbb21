"""Reading mmengine's scalar logs (``<work_dir>/<timestamp>/vis_data/scalars.json``).

``LocalVisBackend`` writes one JSON object per line: training rows carry ``iter`` (and ``step``,
``epoch``, ``lr``, the losses ...), validation rows carry the metrics and ``step`` (the epoch, or
the iteration of an iteration-based loop) but no ``iter``. A training that was resumed writes a new
``<timestamp>`` folder whose first logged iteration continues the previous run.
"""
import glob
import json
import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

__all__ = ['ScalarLog', 'find_scalar_files', 'load_scalar_log', 'RUN_MODES']

#: ``auto``: the latest run, preceded by the runs it resumed; ``latest``: the latest run only;
#: ``all``: every run in time order.
RUN_MODES = ('auto', 'latest', 'all')


@dataclass
class ScalarLog:
    """Scalars of one training, runs concatenated in time order.

    Attributes:
        files: The ``scalars.json`` files used, oldest first.
        train: Key -> list of ``(iter, value)`` from training rows (rows with ``iter``).
        val: Key -> list of ``(step, value)`` from the other rows (validation).
        run_starts: First logged iteration of every run after the first (resume points).
    """

    files: List[str]
    train: Dict[str, List[Tuple[float, float]]] = field(default_factory=dict)
    val: Dict[str, List[Tuple[float, float]]] = field(default_factory=dict)
    run_starts: List[float] = field(default_factory=list)


def find_scalar_files(path: str) -> List[str]:
    """All ``scalars.json`` of a work dir (one per run, oldest first), or the file itself.

    ``path`` may be a ``scalars.json`` file, a ``vis_data`` folder, a ``<timestamp>`` run folder or
    a work dir holding run folders.

    Raises:
        FileNotFoundError: naming ``path`` and the places looked at, when there is none.
    """
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f'{path}: no such file or directory')
    for direct in (os.path.join(path, 'scalars.json'),
                   os.path.join(path, 'vis_data', 'scalars.json')):
        if os.path.isfile(direct):
            return [direct]
    # mmengine's timestamps (YYYYMMDD_HHMMSS) sort in time order as strings.
    found = sorted(glob.glob(os.path.join(glob.escape(path), '*', 'vis_data', 'scalars.json')))
    if not found:
        raise FileNotFoundError(
            f'{path}: no scalars file (looked for {path}/scalars.json, {path}/vis_data/'
            f'scalars.json and {path}/<timestamp>/vis_data/scalars.json; is LocalVisBackend in '
            'the config\'s visualizer?)')
    return found


def _read_rows(path: str) -> List[dict]:
    rows = []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}:{lineno}: not a JSON object ({err.msg})') from None
            if not isinstance(row, dict):
                raise ValueError(f'{path}:{lineno}: expected a JSON object, got '
                                 f'{type(row).__name__}')
            rows.append(row)
    return rows


def _first_iter(rows: List[dict]) -> float:
    iters = [r['iter'] for r in rows if isinstance(r.get('iter'), (int, float))]
    return float(min(iters)) if iters else math.inf


def _select_runs(files: List[str], runs: List[List[dict]], mode: str
                 ) -> Tuple[List[str], List[List[dict]]]:
    if mode not in RUN_MODES:
        raise ValueError(f'runs must be one of {RUN_MODES}, got {mode!r}')
    nonempty = [(f, r) for f, r in zip(files, runs) if r]
    if not nonempty:
        raise ValueError('no scalars logged yet: ' + ', '.join(files) + ' are empty')
    if mode == 'all':
        chosen = nonempty
    elif mode == 'latest':
        chosen = nonempty[-1:]
    else:  # walk back while each run continues (starts later than) the one before it
        chosen = [nonempty[-1]]
        for prev in reversed(nonempty[:-1]):
            if _first_iter(chosen[0][1]) > _first_iter(prev[1]):
                chosen.insert(0, prev)
            else:
                break
    return [f for f, _ in chosen], [r for _, r in chosen]


def load_scalar_log(path: str, runs: str = 'auto') -> ScalarLog:
    """Read and concatenate the scalar logs under ``path`` (see :func:`find_scalar_files`).

    Args:
        path: Work dir, run folder, ``vis_data`` folder or ``scalars.json``.
        runs: Which runs of a work dir (:data:`RUN_MODES`). When a later run re-logs iterations
            (resumed from an earlier checkpoint), its values replace the earlier ones.

    Returns:
        The concatenated :class:`ScalarLog`; non-numeric values are skipped.
    """
    files = find_scalar_files(path)
    files, runs_rows = _select_runs(files, [_read_rows(f) for f in files], runs)
    log = ScalarLog(files=files)
    for i, rows in enumerate(runs_rows):
        start = _first_iter(rows)
        if i > 0 and math.isfinite(start):
            log.run_starts.append(start)
            for series in log.train.values():  # the newer run wins where they overlap
                series[:] = [(x, y) for x, y in series if x < start]
        for row in rows:
            is_train = isinstance(row.get('iter'), (int, float))
            x = row['iter'] if is_train else row.get('step')
            if not isinstance(x, (int, float)):
                continue
            target = log.train if is_train else log.val
            for key, value in row.items():
                if key in ('iter', 'step', 'epoch') or isinstance(value, bool) \
                        or not isinstance(value, (int, float)):
                    continue
                target.setdefault(key, []).append((float(x), float(value)))
    return log
