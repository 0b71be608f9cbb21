"""Benchmark suites: which models are fine-tuned on which datasets with which seeds.

A suite is a Python config (``configs/suites/*.py``) read with mmengine's ``Config``::

    seeds = [0, 1, 2]
    reference = 'surgvista_vitb'          # the model every other one is tested against
    figure = 'bars'                       # 'bars' (paper Figs. 2-4) or 'scaling' (Fig. 5)
    metrics = dict(phase=['image_accuracy', 'accuracy', 'jaccard'])  # optional, per task
    datasets = dict(
        cholec80=dict(config='configs/finetune/surgvista_vitb_cholec80_phase_paper.py',
                      data_root='data/cholec80'),   # data_root optional
    )
    models = dict(
        surgvista_vitb=dict(checkpoint='checkpoints/surgvista_vitb_pretrain.pth',
                            label='SurgVISTA'),
        dino=dict(checkpoint='checkpoints/natural/dino_vitb.pth',
                  cfg_options={'model.backbone.tubelet_size': 1},   # applied on every dataset
                  configs=dict(cholec80='configs/finetune/baseline_dino_..._paper.py')),
        fromscratch=dict(checkpoint=None),            # None: random initialisation
        selfsupsurg=dict(two_stage='selfsupsurg_r50'),  # configs/twostage/selfsupsurg_r50_*
    )

Model entries (keys):

* ``checkpoint``: the backbone weights (``model.backbone.init_cfg.checkpoint``); ``None`` trains
  from scratch (``model.backbone.init_cfg=None``); absent: the config's own checkpoint. A path
  ending in ``last_checkpoint`` (mmengine's pointer file) is read and replaced by the file it
  names.
* ``cfg_options``: overrides applied to every dataset's config (e.g. a natural-domain backbone's
  frame count); a key starting with ``*_dataloader.`` is set on each data loader the config
  defines; ``configs``: a whole config per dataset name instead of the dataset's config.
* ``two_stage``: the ``{model}`` of ``configs/twostage/{model}_{dataset}_frame.py`` / ``_tcn.py``
  (a frame model, its feature bank, a temporal model); with ``clip_stage=True`` stage 1 is the
  dataset's (SurgVISTA clip) fine-tuning config instead of a ``_frame.py`` one.
* ``label``: the name in tables and figures (default: the key); ``scale``: the x value of the
  scaling figure (Fig. 5 settings).

Dataset entries: ``config`` (a fine-tuning config), optional ``data_root`` (set on every data
loader of the run's configs, and as the top-level ``data_root`` of a config that refers to
``${data_root}``, e.g. ``surgvista_vitb_custom_phase.py``) and ``cfg_options``; the key names the
dataset (``cholec80``, ...). Every step's config is checked with its options as the tool it
launches loads it (``load_config``), so an option the tool would refuse stops the suite before
any run.

A config ending in ``_paper.py`` follows the paper's protocol (last epoch tested, no validation
split); any other the clean one (checkpoint selected on validation). The two are never mixed in
one table: every dataset's runs must share one protocol kind.
"""
from __future__ import annotations

import copy
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config

from surgvista_mm.utils.config_check import ConfigError, apply_cfg_options, read_config
from surgvista_mm.utils.config_follow import referenced_settings
from surgvista_mm.utils.io import file_sha256

__all__ = ['SuiteError', 'Suite', 'ModelEntry', 'DatasetEntry', 'Step', 'CheckpointOf', 'RunSpec',
           'load_suite', 'protocol_kind', 'file_sha256', 'resolve_checkpoint_path',
           'DEFAULT_METRICS', 'TWOSTAGE_DIR']

#: Metrics reported per task when the suite does not name them (paper Figs. 2-5).
DEFAULT_METRICS: Dict[str, Tuple[str, ...]] = {
    'phase': ('image_accuracy', 'accuracy', 'precision', 'recall', 'jaccard'),
    'triplet': ('AP_IVT', 'AP_IV', 'AP_IT'),
    'cvs': ('mAP', 'video_mAP'),
    'cvs_single_label': ('top1', 'mAP'),
    'action': ('top1', 'mAP'),
}
#: Where the two-stage configs live (branch i14).
TWOSTAGE_DIR = osp.join('configs', 'twostage')
_NO_CHECKPOINT = object()  # a model entry without a 'checkpoint' key: the config's own
_MODEL_KEYS = {'checkpoint', 'cfg_options', 'configs', 'two_stage', 'clip_stage', 'label',
               'scale'}
_DATASET_KEYS = {'config', 'data_root', 'cfg_options'}
_SUITE_KEYS = {'seeds', 'reference', 'figure', 'metrics', 'datasets', 'models', 'title',
               'n_resamples', 'bootstrap_seed'}
_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


class SuiteError(ValueError):
    """A suite names a missing config or checkpoint, or is malformed; the message names the
    entry."""


@dataclass
class ModelEntry:
    """One model of a suite (see the module docstring for the keys)."""

    name: str
    label: str
    checkpoint: Any = _NO_CHECKPOINT
    cfg_options: Dict[str, Any] = field(default_factory=dict)
    configs: Dict[str, str] = field(default_factory=dict)
    two_stage: Optional[str] = None
    clip_stage: bool = False
    scale: Optional[float] = None


@dataclass
class DatasetEntry:
    """One dataset of a suite: its fine-tuning config, data root and overrides."""

    name: str
    config: str
    data_root: Optional[str] = None
    cfg_options: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointOf:
    """The checkpoint a finished training step selected, known only after it ran.

    ``select='best'``: the ``best_*.pth`` of ``work_dir`` (selected on validation by the config's
    ``save_best``); ``'last'``: the file named by ``work_dir/last_checkpoint`` (configs without a
    validation split test their last epoch).
    """

    work_dir: str
    select: str

    def shell(self) -> str:
        """The path as a shell expression (for emitted scripts)."""
        if self.select == 'best':
            return f'"$(ls -t {self.work_dir}/best_*.pth | head -1)"'
        return f'"$(cat {self.work_dir}/last_checkpoint)"'

    def resolve(self) -> str:
        """The path now (after the step ran); FileNotFoundError naming what is missing."""
        if self.select == 'best':
            found = sorted((p for p in os.listdir(self.work_dir)
                            if p.startswith('best_') and p.endswith('.pth')),
                           key=lambda p: os.path.getmtime(osp.join(self.work_dir, p)))
            if not found:
                raise FileNotFoundError(f'no best_*.pth in {self.work_dir} (the config selects '
                                        'its checkpoint on validation with save_best)')
            return osp.join(self.work_dir, found[-1])
        return resolve_checkpoint_path(osp.join(self.work_dir, 'last_checkpoint'))


@dataclass
class Step:
    """One command of a run: ``kind`` in ``train``, ``test``, ``extract_bank``.

    ``args`` are the tool's arguments after the config (strings, or :class:`CheckpointOf`);
    ``options`` its ``--cfg-options`` (appended by :meth:`tail`).
    """

    name: str
    kind: str
    config: str
    args: List[Any]
    options: Dict[str, Any] = field(default_factory=dict)

    def tail(self, extra: Tuple[str, ...] = ()) -> List[Any]:
        """``args``, ``extra`` (launch-dependent arguments, e.g. the bank's ``--device``), then
        ``--cfg-options KEY=VALUE ...`` (when there are options)."""
        if not self.options:
            return [*self.args, *extra]
        return [*self.args, *extra, '--cfg-options',
                *[render_option(k, v) for k, v in self.options.items()]]


@dataclass
class RunSpec:
    """One (model, dataset, seed) fine-tuning -> test, and where it writes."""

    model: ModelEntry
    dataset: DatasetEntry
    seed: int
    run_dir: str
    steps: List[Step]
    test_config: str
    protocol_kind: str
    backbone_checkpoint: Optional[str]

    @property
    def run_id(self) -> str:
        """``model/dataset/seedS`` (also the run folder under ``DIR/runs``)."""
        return f'{self.model.name}/{self.dataset.name}/seed{self.seed}'

    @property
    def results_dir(self) -> str:
        return osp.join(self.run_dir, 'results')

    def commands(self) -> List[List[str]]:
        """Each step's tool, config and arguments with the run folder written ``RUN`` (what
        makes two runs the same run, wherever their folder is)."""
        def text(arg: Any) -> str:
            if isinstance(arg, CheckpointOf):
                arg = f'{arg.work_dir}/[{arg.select}]'
            return str(arg).replace(self.run_dir, 'RUN')
        return [[step.kind, step.config, *[text(a) for a in step.tail()]]
                for step in self.steps]


@dataclass
class Suite:
    """A loaded suite (:func:`load_suite`)."""

    path: str
    models: List[ModelEntry]
    datasets: List[DatasetEntry]
    seeds: List[int]
    reference: str
    figure: str
    metrics: Dict[str, Tuple[str, ...]]
    title: str
    n_resamples: int
    bootstrap_seed: int

    def model(self, name: str) -> ModelEntry:
        return next(m for m in self.models if m.name == name)

    def runs(self, work_dir: str) -> List[RunSpec]:
        """Every (model, dataset, seed) run, models outermost, in the suite's order."""
        runs = []
        for m in self.models:
            for d in self.datasets:
                for s in self.seeds:
                    try:
                        runs.append(_run_spec(m, d, s, work_dir))
                    except (ConfigError, OSError) as exc:
                        raise SuiteError(f'{self.path}: model {m.name!r} on dataset {d.name!r}: '
                                         f'{exc}') from exc
        return runs


def protocol_kind(config_path: str) -> str:
    """``'paper'`` for a ``*_paper.py`` config, else ``'clean'``."""
    return 'paper' if osp.basename(config_path).endswith('_paper.py') else 'clean'



def resolve_checkpoint_path(path: str) -> str:
    """``path``, or the file an mmengine ``last_checkpoint`` pointer file names."""
    if osp.basename(path) == 'last_checkpoint' and osp.isfile(path):
        with open(path, encoding='utf-8') as f:
            target = f.read().strip()
        if not target:
            raise FileNotFoundError(f'{path} is empty')
        return target
    return path


# --------------------------------------------------------------------------- loading
def load_suite(path: str, cfg_options: Optional[Dict[str, Any]] = None) -> Suite:
    """Read a suite file (and ``--cfg-options`` on it); SuiteError naming the bad entry.

    Only the suite's structure is checked here; :func:`~.runner.validate_suite` checks every
    config and checkpoint before anything runs.
    """
    if not osp.isfile(path):
        raise SuiteError(f'suite file not found: {path!r}')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    unknown = sorted(k for k in set(cfg.keys()) - _SUITE_KEYS if not k.startswith('_'))
    if unknown:
        raise SuiteError(f'{path}: unknown suite keys {unknown} (known: {sorted(_SUITE_KEYS)})')
    for key in ('seeds', 'reference', 'datasets', 'models'):
        if key not in cfg:
            raise SuiteError(f'{path}: the suite needs {key!r}')
    seeds = [int(s) for s in cfg.seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise SuiteError(f'{path}: seeds must be distinct and non-empty, got {seeds}')
    datasets = [_dataset_entry(path, name, dict(entry)) for name, entry in cfg.datasets.items()]
    models = [_model_entry(path, name, dict(entry)) for name, entry in cfg.models.items()]
    if not datasets or not models:
        raise SuiteError(f'{path}: the suite needs at least one model and one dataset')
    if cfg.reference not in [m.name for m in models]:
        raise SuiteError(f'{path}: reference {cfg.reference!r} is not one of the models '
                         f'{[m.name for m in models]}')
    figure = cfg.get('figure', 'bars')
    if figure not in ('bars', 'scaling'):
        raise SuiteError(f'{path}: figure must be "bars" or "scaling", got {figure!r}')
    if figure == 'scaling' and any(m.scale is None for m in models):
        raise SuiteError(f'{path}: a scaling suite needs a numeric "scale" on every model: '
                         f'{[m.name for m in models if m.scale is None]} lack it')
    metrics = dict(DEFAULT_METRICS)
    metrics.update({k: tuple(v) for k, v in (cfg.get('metrics') or {}).items()})
    return Suite(path=path, models=models, datasets=datasets, seeds=seeds,
                 reference=cfg.reference, figure=figure, metrics=metrics,
                 title=cfg.get('title', osp.splitext(osp.basename(path))[0]),
                 n_resamples=int(cfg.get('n_resamples', 1000)),
                 bootstrap_seed=int(cfg.get('bootstrap_seed', 0)))


def _dataset_entry(path: str, name: str, entry: Dict) -> DatasetEntry:
    unknown = sorted(set(entry) - _DATASET_KEYS)
    if unknown:
        raise SuiteError(f'{path}: dataset {name!r}: unknown keys {unknown} '
                         f'(known: {sorted(_DATASET_KEYS)})')
    if not entry.get('config'):
        raise SuiteError(f'{path}: dataset {name!r} needs a "config"')
    return DatasetEntry(name, entry['config'], entry.get('data_root'),
                        dict(entry.get('cfg_options') or {}))


def _model_entry(path: str, name: str, entry: Dict) -> ModelEntry:
    unknown = sorted(set(entry) - _MODEL_KEYS)
    if unknown:
        raise SuiteError(f'{path}: model {name!r}: unknown keys {unknown} '
                         f'(known: {sorted(_MODEL_KEYS)})')
    if '/' in name or name.startswith('.'):
        raise SuiteError(f'{path}: model name {name!r} must be a plain folder name')
    scale = entry.get('scale')
    return ModelEntry(name=name, label=str(entry.get('label', name)),
                      checkpoint=entry['checkpoint'] if 'checkpoint' in entry else _NO_CHECKPOINT,
                      cfg_options=dict(entry.get('cfg_options') or {}),
                      configs=dict(entry.get('configs') or {}),
                      two_stage=entry.get('two_stage'), clip_stage=bool(entry.get('clip_stage')),
                      scale=None if scale is None else float(scale))


# --------------------------------------------------------------------------- run expansion
def render_option(key: str, value: Any) -> str:
    """``KEY=VALUE`` as mmengine's ``DictAction`` parses it back (None, bools, numbers, lists)."""
    if isinstance(value, dict):
        raise SuiteError(f'cfg_options {key!r}: give dotted keys instead of a dict')
    if isinstance(value, (list, tuple)):
        text = '[' + ','.join(render_option('', v)[1:] for v in value) + ']'
    else:
        text = str(value)  # None -> 'None', True -> 'True', numbers, strings
    return f'{key}={text}'


_READ: Dict[str, Config] = {}
_LOADED: Dict[Tuple[str, str], Config] = {}


def _read_cached(config: str) -> Config:
    """The file as written (:func:`read_config`), parsed once per process."""
    key = osp.abspath(config)
    if key not in _READ:
        _READ[key] = read_config(config)
    return _READ[key]


def load_config_cached(config: str, options: Optional[Dict[str, Any]] = None) -> Config:
    """``load_config(config, options)``, as the tools load it (options checked, unused
    top-level variables refused, then ``${name}``, classes and the schedule followed), once per
    (file, options) in this process: suites load a config for every seed. The file is parsed
    once; each set of options is applied to a copy. Callers must not change the returned
    config."""
    key = (osp.abspath(config), repr(sorted((options or {}).items())))
    if key not in _LOADED:
        _LOADED[key] = apply_cfg_options(copy.deepcopy(_read_cached(config)),
                                         dict(options or {}), config)
    return _LOADED[key]


def _loaders_of(config: str) -> List[str]:
    """The data loaders a config file defines (``*_dataloader`` that are not None)."""
    cfg = _read_cached(config)
    return [loader for loader in _LOADERS
            if isinstance(cfg.get(loader), dict) and isinstance(cfg[loader].get('dataset'), dict)]


def expand_loader_options(config: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """Options with a ``*_dataloader.`` key set on every data loader the config defines
    (``val_dataloader`` is None in the paper-protocol configs)."""
    out: Dict[str, Any] = {}
    for key, value in options.items():
        if key.startswith('*_dataloader.'):
            for loader in _loaders_of(config):
                out[f'{loader}.{key[len("*_dataloader."):]}'] = value
        else:
            out[key] = value
    return out


def _data_root_options(config: str, data_root: Optional[str]) -> Dict[str, Any]:
    """A dataset entry's ``data_root`` on every data loader, and as the top-level ``data_root``
    when the config refers to ``${data_root}`` (a template for one's own data: its classes file
    and manifest follow it); a config without that reference gets no top-level option (the
    tools refuse a top-level variable nothing reads)."""
    if data_root is None:
        return {}
    options: Dict[str, Any] = {'*_dataloader.dataset.data_root': data_root}
    if osp.isfile(config) and 'data_root' in referenced_settings(_read_cached(config)):
        options['data_root'] = data_root
    return options


def _checkpoint_options(model: ModelEntry) -> Dict[str, Any]:
    if model.checkpoint is _NO_CHECKPOINT:
        return {}
    if model.checkpoint is None:
        return {'model.backbone.init_cfg': None}
    return {'model.backbone.init_cfg.checkpoint': resolve_checkpoint_path(model.checkpoint)}


def checkpoint_select(config: str, options: Dict[str, Any]) -> str:
    """``'best'`` when the config selects a checkpoint on validation (``save_best``), else
    ``'last'``."""
    cfg = load_config_cached(config, options)
    ckpt_hook = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    has_val = cfg.get('val_dataloader') is not None and cfg.get('val_cfg') is not None
    return 'best' if ckpt_hook.get('save_best') and has_val else 'last'


def _run_spec(model: ModelEntry, dataset: DatasetEntry, seed: int, work_dir: str) -> RunSpec:
    run_dir = osp.join(work_dir, 'runs', model.name, dataset.name, f'seed{seed}')
    base = dict(dataset.cfg_options)
    if model.two_stage:
        return _two_stage_spec(model, dataset, seed, run_dir, base)
    config = model.configs.get(dataset.name, dataset.config)
    options = expand_loader_options(config, {
        **_data_root_options(config, dataset.data_root), **base, **model.cfg_options,
        **_checkpoint_options(model)})
    train_dir, results = osp.join(run_dir, 'train'), osp.join(run_dir, 'results')
    steps = [Step('train', 'train', config, ['--work-dir', train_dir, '--seed', str(seed)],
                  options),
             Step('test', 'test', config,
                  [CheckpointOf(train_dir, checkpoint_select(config, options)),
                   '--work-dir', osp.join(run_dir, 'test'), '--out-dir', results, '--force'],
                  _test_options(options))]
    return RunSpec(model, dataset, seed, run_dir, steps, config, protocol_kind(config),
                   _backbone_checkpoint(config, options))


def _test_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """The test step needs no backbone initialisation (the fine-tuned weights are loaded)."""
    return {k: v for k, v in options.items() if not k.startswith('model.backbone.init_cfg')}


def twostage_config(model: str, dataset: str, stage: str) -> str:
    """``configs/twostage/{model}_{dataset}_{stage}.py`` (stage: ``frame`` or ``tcn``)."""
    return osp.join(TWOSTAGE_DIR, f'{model}_{dataset}_{stage}.py')


def _two_stage_spec(model: ModelEntry, dataset: DatasetEntry, seed: int, run_dir: str,
                    base: Dict[str, Any]) -> RunSpec:
    """Stage 1 (frame model, or the dataset's clip config), its feature bank, stage 2 (TCN)."""
    frame_cfg = (model.configs.get(dataset.name, dataset.config) if model.clip_stage
                 else twostage_config(model.two_stage, dataset.name, 'frame'))
    tcn_cfg = twostage_config(model.two_stage, dataset.name, 'tcn')
    frame_dir, bank = osp.join(run_dir, 'frame'), osp.join(run_dir, 'bank')
    tcn_dir, results = osp.join(run_dir, 'tcn'), osp.join(run_dir, 'results')
    frame_opts = {**_data_root_options(frame_cfg, dataset.data_root), **base, **model.cfg_options,
                  **_checkpoint_options(model)}
    frame_opts = (expand_loader_options(frame_cfg, frame_opts) if osp.isfile(frame_cfg) else
                  {k: v for k, v in frame_opts.items() if not k.startswith('*_dataloader.')})
    bank_opts = {f'{loader}.dataset.bank_dir': bank for loader in _LOADERS}
    frame_ckpt = CheckpointOf(frame_dir, checkpoint_select(frame_cfg, frame_opts)
                              if osp.isfile(frame_cfg) else 'best')
    tcn_select = checkpoint_select(tcn_cfg, bank_opts) if osp.isfile(tcn_cfg) else 'best'
    steps = [
        Step('frame', 'train', frame_cfg, ['--work-dir', frame_dir, '--seed', str(seed)],
             frame_opts),
        # the bank reads the stage-1 datasets' videos: the same data roots as the frame step
        Step('bank', 'extract_bank', frame_cfg, [frame_ckpt, '--out', bank],
             _test_options(frame_opts)),
        Step('tcn', 'train', tcn_cfg, ['--work-dir', tcn_dir, '--seed', str(seed)], bank_opts),
        Step('test', 'test', tcn_cfg,
             [CheckpointOf(tcn_dir, tcn_select), '--work-dir', osp.join(run_dir, 'test'),
              '--out-dir', results, '--force'], bank_opts),
    ]
    backbone = (_backbone_checkpoint(frame_cfg, frame_opts) if osp.isfile(frame_cfg)
                else _entry_checkpoint(model))
    return RunSpec(model, dataset, seed, run_dir, steps, tcn_cfg, protocol_kind(tcn_cfg),
                   backbone)


def _entry_checkpoint(model: ModelEntry) -> Optional[str]:
    if model.checkpoint is _NO_CHECKPOINT or model.checkpoint is None:
        return None
    return resolve_checkpoint_path(model.checkpoint)


def _backbone_checkpoint(config: str, options: Dict[str, Any]) -> Optional[str]:
    """The backbone weights a run starts from (``None``: from scratch)."""
    if 'model.backbone.init_cfg' in options and options['model.backbone.init_cfg'] is None:
        return None
    if 'model.backbone.init_cfg.checkpoint' in options:
        return options['model.backbone.init_cfg.checkpoint']
    if not osp.isfile(config):
        return None
    backbone = (load_config_cached(config, options).get('model') or {}).get('backbone') or {}
    init_cfg = backbone.get('init_cfg')
    return init_cfg.get('checkpoint') if isinstance(init_cfg, dict) else None


__all__ += ['expand_loader_options', 'render_option', 'checkpoint_select', 'twostage_config',
            'load_config_cached']
