"""``import surgvista_mm`` with transformers >= 5 installed (compat item 8, issue 18 defect 2.1).

mmaction2 1.2.0 imports its VindLU models when package metadata says ``transformers>=4.28``;
VindLU needs ``transformers.modeling_utils.apply_chunking_to_forward``, gone in transformers 5.
The tests put a fake ``transformers`` 5.0.0 (metadata plus a ``modeling_utils`` without that
symbol) first on the path of a fresh interpreter.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from surgvista_mm.compat import _major_version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fake_transformers(folder: str, version: str) -> str:
    """A fake ``transformers`` package of ``version`` under ``folder``; returns ``folder``."""
    pkg = os.path.join(folder, 'transformers')
    os.makedirs(pkg)
    with open(os.path.join(pkg, '__init__.py'), 'w') as f:
        f.write(f'__version__ = {version!r}\n')
    with open(os.path.join(pkg, 'modeling_utils.py'), 'w') as f:  # transformers 5: no chunking
        f.write('class PreTrainedModel:\n    pass\n')
    info = os.path.join(folder, f'transformers-{version}.dist-info')
    os.makedirs(info)
    with open(os.path.join(info, 'METADATA'), 'w') as f:
        f.write(f'Metadata-Version: 2.1\nName: transformers\nVersion: {version}\n')
    return folder


# compat.py loaded by path: importing the surgvista_mm package would apply item 8 (and, with a
# fake transformers 4, fail in VindLU as mmaction2 itself does)
_LOAD_COMPAT = """
import importlib.util
spec = importlib.util.spec_from_file_location('compat', 'surgvista_mm/compat.py')
compat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat)
"""


def _run(code: str, fake: str, load_compat: bool = False) -> subprocess.CompletedProcess:
    code = (_LOAD_COMPAT if load_compat else '') + textwrap.dedent(code)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([fake, ROOT]), OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)


def test_fake_transformers5_breaks_plain_mmaction(tmp_path):
    """The simulation reproduces the upstream defect: without the accommodation,
    ``import mmaction.models`` fails inside mmaction2's multimodal package."""
    fake = _fake_transformers(str(tmp_path), '5.0.0')
    proc = _run("""
        compat.ensure_mmaction_drn()  # the other accommodation: only the multimodal import fails
        import mmaction.models
        """, fake, load_compat=True)
    assert proc.returncode != 0
    assert 'ImportError' in proc.stderr or 'ModuleNotFoundError' in proc.stderr
    assert os.path.join('mmaction', 'models', 'multimodal') in proc.stderr


def test_import_surgvista_mm_with_transformers5(tmp_path):
    fake = _fake_transformers(str(tmp_path), '5.0.0')
    proc = _run("""
        import sys
        import surgvista_mm
        import transformers
        from mmaction.registry import MODELS
        from mmaction.utils import dependency
        assert transformers.__version__ == '5.0.0', transformers.__file__
        assert not dependency.WITH_MULTIMODAL
        assert 'mmaction.models.multimodal.vindlu' not in sys.modules
        assert MODELS.get('SurgVistaViT') is not None
        try:  # mmaction2's own placeholder: building VindLU raises a clear ImportError
            MODELS.get('VindLUVQA')()
        except ImportError as err:
            print('placeholder:', err)
        else:
            raise AssertionError('VindLUVQA built without its dependencies')
        """, fake)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # (mmaction2's placeholders all name the last model: a late-binding closure upstream)
    assert 'requires extra multi-modal dependencies' in proc.stdout


def test_transformers4_keeps_mmaction_multimodal_flag(tmp_path):
    """An older transformers (4.x) leaves mmaction2's flag alone (the accommodation only acts
    where the defect is present)."""
    fake = _fake_transformers(str(tmp_path), '4.40.0')
    proc = _run("""
        from mmaction.utils import dependency
        assert dependency.WITH_MULTIMODAL  # metadata says transformers 4.40 >= 4.28
        assert compat.disable_mmaction_multimodal() is False
        assert dependency.WITH_MULTIMODAL
        """, fake, load_compat=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize('version, major', [('5.25.0', 5), ('4.57.6', 4), ('10.0rc1', 10),
                                            ('dev', 0)])
def test_major_version(version, major):
    assert _major_version(version) == major
