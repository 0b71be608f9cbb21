"""Registries of the ``surgvista_mm`` scope, and their export to mmaction2's scope.

Every registry is a child of mmaction2's registry of the same kind, so a config with
``default_scope='surgvista_mm'`` finds this project's modules first and falls back to mmaction2's
(and from there to mmengine's).

**One child per mmaction2 registry.** mmengine builds every object of a run (runner, loops,
schedulers, visualizer, log processor, ...) through ``switch_scope_and_registry``, which looks for
a registry of the *default scope* in the tree of the registry it was called on and prints
``Failed to search registry with scope "surgvista_mm" ...`` when that tree has none. Defining a
``surgvista_mm`` child for every registry mmaction2 defines (even those this project registers
nothing in) removes that warning at its cause: each search finds our child, which falls back to
mmaction2's and mmengine's modules.

**Plain names in mmaction2 configs.** :func:`export_to_mmaction` (called once by
``import surgvista_mm``, i.e. by ``custom_imports=dict(imports=['surgvista_mm'])``) registers each
module of this project *also* in the mmaction2 registry of the same kind, under the same name. A
config written for another MMAction2 project (``default_scope='mmaction'``) then uses
``type='SurgVistaViT'`` as well as the scoped ``type='surgvista_mm.SurgVistaViT'``. Nothing of
mmaction2 is replaced: a name that mmaction2 already uses for another class is an error.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import mmaction.registry as _mmaction
from mmengine.registry import Registry

SCOPE = 'surgvista_mm'


def _child(name: str, *locations: str) -> Registry:
    """A ``surgvista_mm`` registry under mmaction2's registry ``name`` (e.g. ``'MODELS'``)."""
    parent: Registry = getattr(_mmaction, name)
    return Registry(parent.name, parent=parent, scope=SCOPE, locations=list(locations))


# registries this project registers modules in
MODELS = _child('MODELS', 'surgvista_mm.models')
DATASETS = _child('DATASETS', 'surgvista_mm.datasets')
DATA_SAMPLERS = _child('DATA_SAMPLERS', 'surgvista_mm.datasets')
TRANSFORMS = _child('TRANSFORMS', 'surgvista_mm.datasets.transforms')
METRICS = _child('METRICS', 'surgvista_mm.evaluation')
HOOKS = _child('HOOKS', 'surgvista_mm.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS', 'surgvista_mm.engine')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS', 'surgvista_mm.engine')
RUNNERS = _child('RUNNERS', 'surgvista_mm.engine')
# registries mmengine searches in the default scope while building a run (see module docstring)
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS')
LOOPS = _child('LOOPS')
MODEL_WRAPPERS = _child('MODEL_WRAPPERS')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS')
OPTIMIZERS = _child('OPTIMIZERS')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS')
EVALUATOR = _child('EVALUATOR')
TASK_UTILS = _child('TASK_UTILS')
VISUALIZERS = _child('VISUALIZERS')
VISBACKENDS = _child('VISBACKENDS')
LOG_PROCESSORS = _child('LOG_PROCESSORS')
INFERENCERS = _child('INFERENCERS')
FUNCTIONS = _child('FUNCTION')

#: registries with this project's modules, by their mmaction2 name
EXPORTED: Dict[str, Registry] = dict(
    MODELS=MODELS, DATASETS=DATASETS, DATA_SAMPLERS=DATA_SAMPLERS, TRANSFORMS=TRANSFORMS,
    METRICS=METRICS, HOOKS=HOOKS, OPTIM_WRAPPER_CONSTRUCTORS=OPTIM_WRAPPER_CONSTRUCTORS,
    OPTIM_WRAPPERS=OPTIM_WRAPPERS, RUNNERS=RUNNERS, LOOPS=LOOPS)


def export_to_mmaction() -> List[Tuple[str, str]]:
    """Register every module of this project also in mmaction2's registry of the same kind.

    Idempotent (a name already registered there *for the same class* is skipped), so importing
    the package twice is harmless. Call it after the modules are imported (``import surgvista_mm``
    does).

    Returns:
        ``(registry name, type name)`` of every module newly registered in mmaction2's scope.

    Raises:
        KeyError: a name of this project is taken in mmaction2's registry by another class
            (the plain name would be ambiguous); names the registry, the name and both classes.
    """
    added = []
    for kind, ours in EXPORTED.items():
        theirs: Registry = getattr(_mmaction, kind)
        for name, cls in ours.module_dict.items():
            taken = theirs.module_dict.get(name)
            if taken is cls:
                continue
            if taken is not None:
                raise KeyError(f'{kind}: type name {name!r} of {cls.__module__}.{cls.__name__} '
                               f'is already registered in mmaction2 for '
                               f'{taken.__module__}.{taken.__name__}')
            theirs.register_module(name=name, module=cls)
            added.append((kind, name))
    return added


__all__ = ['SCOPE', 'MODELS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'METRICS', 'HOOKS',
           'OPTIM_WRAPPER_CONSTRUCTORS', 'OPTIM_WRAPPERS', 'RUNNERS', 'RUNNER_CONSTRUCTORS',
           'LOOPS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'OPTIMIZERS', 'PARAM_SCHEDULERS',
           'EVALUATOR', 'TASK_UTILS', 'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS',
           'INFERENCERS', 'FUNCTIONS', 'EXPORTED', 'export_to_mmaction']
