"""Building a model from a config and a checkpoint for inference, outside the Runner.

Used by ``tools/inference/online_phase.py``, ``tools/analysis/extract_features.py``,
``tools/analysis/visualize_reconstruction.py`` and ``tools/test.py`` (checkpoint checks and the
``--out-dir`` evaluator). Every error names the file (config or checkpoint) and what is wrong.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict

from surgvista_mm.checkpoint.safe_load import load_checkpoint_file
from surgvista_mm.checkpoint.state_dict import unwrap_state_dict

__all__ = ['load_config_file', 'build_model_from_config', 'build_feature_model',
           'load_weights_into',
           'check_checkpoint_fits',
           'wrap_evaluator', 'test_dataset_cfg', 'test_pipeline_cfg', 'clip_protocol',
           'class_names_of']


def load_config_file(config: Union[str, Config], cfg_options: Optional[Dict] = None) -> Config:
    """Read a config file as the training tools do (``surgvista_mm.utils.load_config``: checked
    options, then the followed settings such as ``${data_root}`` and ``classes``), or take a
    Config and apply ``cfg_options``."""
    if not isinstance(config, Config):
        from surgvista_mm.utils.config_check import load_config
        return load_config(config, cfg_options)
    if cfg_options:
        config.merge_from_dict(cfg_options)
    return config


def _config_name(cfg: Config) -> str:
    return getattr(cfg, 'filename', None) or '<config>'


def check_checkpoint_fits(model: torch.nn.Module, checkpoint: Any, checkpoint_path: str,
                          config_name: str = '<config>') -> Dict[str, torch.Tensor]:
    """The checkpoint's state dict, after checking it against ``model``.

    Raises:
        ValueError: a tensor whose shape differs, naming the key, both shapes, the checkpoint
            and the config.
        KeyError: keys missing from the checkpoint or not in the model.
    """
    state = unwrap_state_dict(checkpoint, checkpoint_path)
    target = model.state_dict()
    for key, value in state.items():
        if key in target and tuple(value.shape) != tuple(target[key].shape):
            raise ValueError(f'{checkpoint_path} does not fit {config_name}: {key!r} has shape '
                             f'{tuple(value.shape)} in the checkpoint, {tuple(target[key].shape)} '
                             'in the model the config builds')
    missing = sorted(set(target) - set(state))
    unexpected = sorted(set(state) - set(target))
    if missing or unexpected:
        def short(keys: List[str]) -> str:
            return ', '.join(keys[:6]) + (f' ... (+{len(keys) - 6})' if len(keys) > 6 else '')
        parts = ([f'missing from the checkpoint: {short(missing)}'] if missing else []) + (
            [f'not in the model: {short(unexpected)}'] if unexpected else [])
        raise KeyError(f'{checkpoint_path} does not fit {config_name}: ' + '; '.join(parts)
                       + ' (a pre-training checkpoint is used through '
                       'model.backbone.init_cfg.checkpoint of a fine-tuning config, not here)')
    return state


def build_model_from_config(cfg: Config, checkpoint: Optional[str] = None,
                            device: Union[str, torch.device] = 'cpu') -> torch.nn.Module:
    """Build ``cfg.model`` in the ``surgvista_mm`` scope, load ``checkpoint`` strictly (checked
    with :func:`check_checkpoint_fits`, read with ``weights_only=True``), move it to ``device``
    and set eval mode. The config's ``init_cfg`` checkpoints are *not* read.
    """
    from mmengine.registry import init_default_scope

    import surgvista_mm  # noqa: F401  (registers the modules)
    from surgvista_mm.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'surgvista_mm'))
    model_cfg = copy.deepcopy(cfg.model)
    if 'backbone' in model_cfg:
        model_cfg['backbone'].pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    if checkpoint is not None:
        load_weights_into(model, checkpoint, _config_name(cfg))
    return model.to(device).eval()


def build_feature_model(cfg: Config, checkpoint: str,
                        device: Union[str, torch.device] = 'cpu') -> Tuple[torch.nn.Module, str]:
    """The model of a fine-tuning config with ``checkpoint``'s weights, for features.

    A fine-tuned checkpoint (with ``cls_head.*``) loads as :func:`build_model_from_config`
    does. A pre-training checkpoint of this project or a converted encoder (no ``cls_head.*``)
    loads into the backbone only, as fine-tuning starts from it (``load_pretrained``: the
    pre-training ``norm`` is dropped when the config's backbone has none); the head's
    ``fc_norm`` keeps its initialisation (weight 1, bias 0: a plain standardisation).

    Returns:
        ``(model in eval mode, 'fine-tuned' | 'encoder')``.
    """
    state = unwrap_state_dict(load_checkpoint_file(checkpoint), checkpoint)
    if any(k.startswith('cls_head.') for k in state) or 'cls_head' not in cfg.model:
        return build_model_from_config(cfg, checkpoint, device), 'fine-tuned'
    model = build_model_from_config(cfg, None, 'cpu')
    model.backbone.load_pretrained(checkpoint)
    return model.to(device).eval(), 'encoder'


def load_weights_into(model: torch.nn.Module, checkpoint: str,
                      config_name: str = '<config>') -> None:
    """Load ``checkpoint`` (weights_only=True, allow-listed plain data) into ``model`` strictly."""
    state = check_checkpoint_fits(model, load_checkpoint_file(checkpoint), checkpoint,
                                  config_name)
    model.load_state_dict(state, strict=True)


def wrap_evaluator(evaluator: Any, out_dir: str, force: bool = False,
                   config_name: str = '<config>') -> Dict:
    """``test_evaluator`` wrapped in ``SurgicalPredictionWriter`` writing to ``out_dir``."""
    if isinstance(evaluator, (list, tuple)):
        if len(evaluator) != 1:
            raise ValueError(f'{config_name}: --out-dir needs a single test_evaluator metric, '
                             f'got {len(evaluator)}')
        evaluator = evaluator[0]
    if not isinstance(evaluator, Mapping) or 'type' not in evaluator:
        raise ValueError(f'{config_name}: test_evaluator must be a metric config for --out-dir')
    evaluator = dict(copy.deepcopy(evaluator))
    if evaluator['type'] == 'SurgicalPredictionWriter':
        evaluator.update(out_dir=out_dir, force=force)
        return evaluator
    return dict(type='SurgicalPredictionWriter', metric=evaluator, out_dir=out_dir, force=force)


def test_dataset_cfg(cfg: Config) -> Optional[ConfigDict]:
    """The test (else val) dataset config, or None."""
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset'):
            return loader['dataset']
    return None


def test_pipeline_cfg(cfg: Config) -> List[Dict]:
    """The config's test pipeline (``test_dataloader.dataset.pipeline``, else ``test_pipeline``).

    Raises:
        ValueError: naming the config when it has none.
    """
    dataset = test_dataset_cfg(cfg)
    pipeline = dataset.get('pipeline') if dataset else None
    pipeline = pipeline or cfg.get('test_pipeline')
    if not pipeline:
        raise ValueError(f'{_config_name(cfg)} has no test pipeline (test_dataloader.dataset.'
                         'pipeline or test_pipeline); inference needs one')
    return [dict(t) for t in pipeline]


def clip_protocol(cfg: Config) -> Tuple[int, int]:
    """``(clip_len, frame_interval)`` of the test dataset (default 16 and 4)."""
    dataset = test_dataset_cfg(cfg) or {}
    return int(dataset.get('clip_len', 16)), int(dataset.get('frame_interval', 4))


def class_names_of(cfg: Config, num_classes: int) -> List[str]:
    """Class names: the test dataset's ``classes``, the phase dataset's default (Cholec80) when
    it has as many, else ``'class k'``."""
    dataset = test_dataset_cfg(cfg) or {}
    names: Optional[Sequence[str]] = dataset.get('classes')
    if names is None and str(dataset.get('type', '')).endswith('SurgicalPhaseDataset'):
        from surgvista_mm.datasets.phase_dataset import CHOLEC80_PHASES
        names = CHOLEC80_PHASES
    if names is None or len(names) != num_classes:
        return [f'class {k}' for k in range(num_classes)]
    return list(names)
