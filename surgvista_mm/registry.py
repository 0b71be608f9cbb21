"""Registries of the ``surgvista_mm`` scope.

Every registry is a child of mmaction2's registry of the same kind, so a config with
``default_scope='surgvista_mm'`` finds this project's modules first and falls back to mmaction2's
(and from there to mmengine's). Other MMAction2 projects reach the modules with
``custom_imports=dict(imports=['surgvista_mm'])`` and either ``default_scope='surgvista_mm'`` or a
scoped type name such as ``type='surgvista_mm.SurgVistaViT'``.

All type names registered here start with a prefix that mmaction2 does not use
(``SurgVista``, ``Surgical``, ``Tube``, ``TSN``...), so the scopes never shadow each other.
"""
from mmaction.registry import DATA_SAMPLERS as MMACTION_DATA_SAMPLERS
from mmaction.registry import DATASETS as MMACTION_DATASETS
from mmaction.registry import HOOKS as MMACTION_HOOKS
from mmaction.registry import METRICS as MMACTION_METRICS
from mmaction.registry import MODELS as MMACTION_MODELS
from mmaction.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMACTION_OPTIM_WRAPPER_CONSTRUCTORS
from mmaction.registry import OPTIM_WRAPPERS as MMACTION_OPTIM_WRAPPERS
from mmaction.registry import TRANSFORMS as MMACTION_TRANSFORMS
from mmengine.registry import Registry

SCOPE = 'surgvista_mm'

MODELS = Registry('model', parent=MMACTION_MODELS, scope=SCOPE,
                  locations=['surgvista_mm.models'])
DATASETS = Registry('dataset', parent=MMACTION_DATASETS, scope=SCOPE,
                    locations=['surgvista_mm.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMACTION_DATA_SAMPLERS, scope=SCOPE,
                         locations=['surgvista_mm.datasets'])
TRANSFORMS = Registry('transform', parent=MMACTION_TRANSFORMS, scope=SCOPE,
                      locations=['surgvista_mm.datasets.transforms'])
METRICS = Registry('metric', parent=MMACTION_METRICS, scope=SCOPE,
                   locations=['surgvista_mm.evaluation'])
HOOKS = Registry('hook', parent=MMACTION_HOOKS, scope=SCOPE,
                 locations=['surgvista_mm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMACTION_OPTIM_WRAPPER_CONSTRUCTORS, scope=SCOPE,
    locations=['surgvista_mm.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMACTION_OPTIM_WRAPPERS, scope=SCOPE,
                          locations=['surgvista_mm.engine'])

__all__ = ['SCOPE', 'OPTIM_WRAPPERS', 'MODELS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'METRICS', 'HOOKS',
           'OPTIM_WRAPPER_CONSTRUCTORS']
