"""Converters from the official release layouts (``tools/data/prepare.py DATASET``).

Each converter takes the release folder (``root``), optionally the folder of frames extracted
by ``tools/data/extract_frames.py`` (``frames``: the manifest then lists those frame folders
instead of the video files) and a length tolerance in seconds, validates the release and
returns a ``Plan`` of the files to write; ``write_plan`` writes it through a temporary folder.
``CONVERTERS[name].expects`` states the files each one reads and what it writes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Dict

from surgvista_mm.utils.paths import id_problem
from . import cataract, generic, laparoscopy, pretrain
from .common import Plan, ReleaseError, check_plan_ids, write_plan


@dataclass(frozen=True)
class ConverterSpec:
    convert: Callable[..., Plan]
    expects: str
    tolerance: int  # default length tolerance (seconds)
    kind: str       # 'benchmark', 'pretrain' or 'generic'


CONVERTERS: Dict[str, ConverterSpec] = {
    'cholec80': ConverterSpec(laparoscopy.convert_cholec80, laparoscopy.CHOLEC80_EXPECTS, 1,
                              'benchmark'),
    'm2cai16': ConverterSpec(laparoscopy.convert_m2cai16, laparoscopy.M2CAI16_EXPECTS, 1,
                             'benchmark'),
    'autolaparo': ConverterSpec(laparoscopy.convert_autolaparo, laparoscopy.AUTOLAPARO_EXPECTS,
                                1, 'benchmark'),
    'pmlr50': ConverterSpec(laparoscopy.convert_pmlr50, laparoscopy.PMLR50_EXPECTS, 0,
                            'benchmark'),
    'cataracts': ConverterSpec(cataract.convert_cataracts, cataract.CATARACTS_EXPECTS, 1,
                               'benchmark'),
    'cataract101': ConverterSpec(cataract.convert_cataract101, cataract.CATARACT101_EXPECTS, 1,
                                 'benchmark'),
    'cataract21': ConverterSpec(cataract.convert_cataract21, cataract.CATARACT21_EXPECTS, 1,
                                'benchmark'),
    'cholect50': ConverterSpec(laparoscopy.convert_cholect50, laparoscopy.CHOLECT50_EXPECTS, 0,
                               'benchmark'),
    'endoscapes': ConverterSpec(laparoscopy.convert_endoscapes, laparoscopy.ENDOSCAPES_EXPECTS,
                                0, 'benchmark'),
    'cholec80_cvs': ConverterSpec(laparoscopy.convert_cholec80_cvs,
                                  laparoscopy.CHOLEC80_CVS_EXPECTS, 0, 'benchmark'),
    'surgicalactions160': ConverterSpec(cataract.convert_surgicalactions160,
                                        cataract.SURGICALACTIONS160_EXPECTS, 0, 'benchmark'),
    'heichole': ConverterSpec(pretrain.convert_heichole, pretrain.HEICHOLE_EXPECTS, 0,
                              'pretrain'),
    'pitvis': ConverterSpec(pretrain.convert_pitvis, pretrain.PITVIS_EXPECTS, 0, 'pretrain'),
    'psi_ava': ConverterSpec(pretrain.convert_psi_ava, pretrain.PSI_AVA_EXPECTS, 0, 'pretrain'),
    'bernbypass70': ConverterSpec(pretrain.convert_bernbypass70, pretrain.BYPASS_EXPECTS.format(
        name='bernbypass70', folder='BernBypass70', prefix='BBP'), 0, 'pretrain'),
    'strasbypass70': ConverterSpec(pretrain.convert_strasbypass70, pretrain.BYPASS_EXPECTS.format(
        name='strasbypass70', folder='StrasBypass70', prefix='SBP'), 0, 'pretrain'),
    'web': ConverterSpec(pretrain.convert_web, pretrain.WEB_EXPECTS, 0, 'pretrain'),
    'generic_phase': ConverterSpec(generic.convert_generic_phase, generic.GENERIC_PHASE_EXPECTS,
                                   0, 'generic'),
    'generic_triplet': ConverterSpec(generic.convert_generic_triplet,
                                     generic.GENERIC_TRIPLET_EXPECTS, 0, 'generic'),
}


def prepare(dataset: str, root: str, out: str, check: bool = False, frames: str = None,
            tolerance: int = None, force: bool = False, name: str = None,
            fps: float = None) -> Plan:
    """Validate release ``root`` of ``dataset`` and (unless ``check``) write it to ``out``.

    ``fps``: generic_phase only, the native frame rate of ``start_frame,end_frame,phase``
    segment files (default: each video's own).

    Raises:
        ReleaseError: the release does not match the layout (file and line named), ``root``
            is not a folder, or ``name`` is not a safe file name
            (``surgvista_mm/utils/paths.py``: e.g. ``../x``).
        FileExistsError: ``out`` holds files of the plan and ``force`` is not set.
    """
    if name is not None and id_problem(name) is not None:
        raise ReleaseError(f'--name {name!r}: {id_problem(name)}; it names the manifest file '
                           '(manifests/<name>.json): use a plain name such as "esd57"')
    if dataset not in CONVERTERS:
        raise KeyError(f'unknown dataset {dataset!r}; expected one of {sorted(CONVERTERS)}')
    if not os.path.isdir(root):
        raise ReleaseError(f'the release folder (--root) does not exist: {root}'
                           if not os.path.exists(root) else f'--root {root} is not a folder')
    spec = CONVERTERS[dataset]
    tol = spec.tolerance if tolerance is None else tolerance
    kwargs = dict(out=out, name=name) if spec.kind == 'generic' else {}
    if fps is not None:
        if dataset != 'generic_phase':
            raise ReleaseError('--fps is for generic_phase segment annotations '
                               '(start_frame,end_frame,phase)')
        kwargs['segment_fps'] = fps
    plan = spec.convert(root, frames=frames, tolerance=tol, **kwargs)
    check_plan_ids(plan)
    if not check:
        write_plan(plan, out, force=force)
    return plan


__all__ = ['CONVERTERS', 'ConverterSpec', 'Plan', 'ReleaseError', 'prepare', 'write_plan']
