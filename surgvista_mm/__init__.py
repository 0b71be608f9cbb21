"""surgvista_mm: SurgVISTA surgical video foundation model as an OpenMMLab (MMAction2) plugin.

Importing the package registers every module in the ``surgvista_mm`` registry scope and, under the
same names, in mmaction2's (:func:`surgvista_mm.registry.export_to_mmaction`). Use it from any
config with ``custom_imports=dict(imports=['surgvista_mm'], allow_failed_imports=False)``: with
``default_scope='surgvista_mm'`` or ``'mmaction'``, by plain (``SurgVistaViT``) or scoped
(``surgvista_mm.SurgVistaViT``) type names.
"""
from .compat import disable_mmaction_multimodal, ensure_mmaction_drn, silence_mmcv_lite_warning

ensure_mmaction_drn()  # must precede any import of mmaction.models (upstream #2714)
disable_mmaction_multimodal()  # likewise: VindLU breaks under transformers >= 5
silence_mmcv_lite_warning()

from .version import __version__  # noqa: E402

# Register mmaction2's own modules, the parent scope this plugin falls back to: mmengine's
# registries do not import a parent's locations, so without this a plain ``type='Resize'`` in
# the surgvista_mm scope would resolve to mmcv's image ``Resize`` (which ignores clips).
import mmaction.datasets  # noqa: E402,F401
import mmaction.models  # noqa: E402,F401
from . import registry  # noqa: E402,F401
from . import models, datasets, evaluation, engine, benchmarking  # noqa: E402,F401

# plain type names (``type='SurgVistaViT'``) in configs with ``default_scope='mmaction'``
registry.export_to_mmaction()

__all__ = ['__version__']
