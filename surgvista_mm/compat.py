"""Every accommodation of an upstream problem lives here, each named after its cause.

Nothing here edits site-packages or changes library behaviour globally; each function is small
and only acts where the upstream defect is actually present.

1. mmaction2 1.2.0 wheels lack ``mmaction/models/localizers/drn`` (open-mmlab/mmaction2#2714),
   so ``import mmaction.models`` (and every build in the ``mmaction`` scope) raises
   ``ModuleNotFoundError``. :func:`ensure_mmaction_drn` registers a tiny placeholder module under
   that name, only when the real folder is missing.
2. mmengine 0.10.7 checkpoints pickle message-hub objects (``HistoryBuffer`` with bound methods,
   numpy arrays and scalars) that ``weights_only=True`` refuses. ``SurgVistaRunner`` writes plain
   containers instead and reads mmengine-format files with exactly those types allowed
   (``surgvista_mm.checkpoint.safe_load``); every checkpoint is loaded with
   ``weights_only=True``.
   Weight files (published, converted, teachers) go through
   ``surgvista_mm.checkpoint.safe_load.load_external_weights``.
3. mmengine's ``init_dist`` always calls ``torch.cuda.set_device`` ("Found no NVIDIA driver" on
   CPU machines under torchrun). :func:`init_cpu_distributed` initialises a ``gloo`` group first,
   after which mmengine skips its own initialisation.
4. mmengine wraps models in DDP with ``device_ids=[LOCAL_RANK]``, which DDP rejects for CPU
   modules. :func:`cpu_model_wrapper_cfg` gives the wrapper config that leaves ``device_ids``
   unset.
5. mmcv-lite warns on import that ``MultiScaleDeformableAttention`` (a compiled op) is missing,
   although no module of this project needs it; :func:`silence_mmcv_lite_warning` filters that
   one message (and nothing else).
6. mmengine's ``AmpOptimWrapper`` asserts a GPU at construction, so the bf16 configs cannot run
   on a CPU machine. :func:`adapt_optim_wrapper_for_cpu` swaps a bf16 ``AmpOptimWrapper`` (or
   its subclass ``SurgVistaAmpOptimWrapper``) for
   ``SurgVistaAutocastOptimWrapper`` (autocast on any device, no loss scale) and refuses fp16
   with a clear message.
7. PyTorch sends float32 CPU GEMMs to MKL, whose CPU dispatch runs AVX2 kernels on AMD
   processors (half oneDNN's float32 throughput on an AVX-512 AMD EPYC; also inside PyTorch's
   CPU flash-attention kernel). Not a function here, because it is a choice of kernel, not a
   patch: on non-Intel CPUs (``models.utils.linear.mkl_penalised_cpu``, the vendor read from
   ``/proc/cpuinfo``) ``surgvista_mm.models.utils.linear`` (``impl='auto'``: oneDNN for float32
   CPU Linear layers) and ``surgvista_mm.models.utils.onednn_attention`` (long float32 CPU
   sequences) call oneDNN directly; on Intel CPUs, where MKL runs its AVX-512 kernels and
   oneDNN measured 0.77x, PyTorch's defaults stay. ``linear_impl='torch'`` /
   ``fused_attn='sdpa'`` force PyTorch's defaults anywhere. Measured in docs/benchmarks.md.
8. mmaction2 1.2.0 imports its VindLU multimodal models from ``mmaction/models/__init__.py``
   whenever ``transformers>=4.28`` is installed (``mmaction.utils.dependency.WITH_MULTIMODAL``,
   read from package metadata); VindLU imports ``apply_chunking_to_forward`` (and more) from
   ``transformers.modeling_utils``, removed in transformers 5, so ``import mmaction.models``
   (and ``import surgvista_mm``) raises ``ImportError`` for anyone with a current transformers.
   :func:`disable_mmaction_multimodal` turns that flag off before ``mmaction.models`` is
   imported, only when the installed transformers is 5 or later: mmaction2 then registers its
   own placeholders for ``VindLUVQA``, ``VindLURetrievalMC`` and ``VindLURetrieval`` (which raise
   when built). No project module uses VindLU; nothing else in mmaction2 reads the flag.
9. mmengine 0.10.7's ``FSDPStrategy.load_optim_state_dict`` calls
   ``FSDP.optim_state_dict_to_load(state_dict, model, optimizer)``, the argument order of
   torch < 2.1; torch 2.1+ takes ``(model, optim, optim_state_dict)``, so resuming an FSDP run
   fails ("unhashable type: 'dict'"). :func:`fsdp_optim_state_dict_to_load` passes them by
   keyword (``SurgVistaFSDPStrategy`` uses it).
"""
from __future__ import annotations

import importlib.util
import os
import sys
import types
from typing import Any, Dict, Optional

import torch

_DRN_MODULE = 'mmaction.models.localizers.drn'
_AMP_WRAPPERS = ('AmpOptimWrapper', 'SurgVistaAmpOptimWrapper')  # GPU-only (item 6)


def ensure_mmaction_drn() -> bool:
    """Register a placeholder for mmaction2's missing ``drn`` localizer package (upstream #2714).

    Must run before ``mmaction.models`` is imported. Returns True when a placeholder was installed,
    False when the real module exists (or a placeholder was already installed).
    """
    if _DRN_MODULE in sys.modules:
        return False
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    root = list(spec.submodule_search_locations)[0]
    if os.path.isdir(os.path.join(root, 'models', 'localizers', 'drn')):
        return False

    class DRN:  # noqa: D401 - placeholder class
        """Placeholder for mmaction2's DRN localizer, absent from the 1.2.0 wheel (#2714)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError('mmaction2 1.2.0 was released without mmaction/models/localizers/'
                              'drn (open-mmlab/mmaction2#2714); DRN is not available.')

    package = types.ModuleType(_DRN_MODULE)
    package.__path__ = []  # mark as a package
    module = types.ModuleType(_DRN_MODULE + '.drn')
    module.DRN = DRN
    package.drn = module
    package.DRN = DRN
    sys.modules[_DRN_MODULE] = package
    sys.modules[_DRN_MODULE + '.drn'] = module
    return True


def _major_version(version: str) -> int:
    """Leading integer of a version string (``'5.25.0'`` -> 5; unparsable -> 0)."""
    digits = ''
    for char in version.strip():
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else 0


def disable_mmaction_multimodal() -> bool:
    """Item 8: keep mmaction2 1.2.0 from importing its VindLU models under transformers >= 5.

    Must run before ``mmaction.models`` is imported. Returns True when the flag was turned off,
    False when nothing was needed (transformers absent or older than 5, mmaction2 absent, the
    flag already off, or ``mmaction.models`` already imported).
    """
    import importlib.metadata
    if 'mmaction.models' in sys.modules or importlib.util.find_spec('mmaction') is None:
        return False
    try:
        version = importlib.metadata.version('transformers')
    except importlib.metadata.PackageNotFoundError:
        return False
    if _major_version(version) < 5:
        return False
    from mmaction.utils import dependency  # reads package metadata only, imports no models
    if not dependency.WITH_MULTIMODAL:
        return False
    dependency.WITH_MULTIMODAL = False
    return True


def silence_mmcv_lite_warning() -> None:
    """Ignore mmcv-lite's import-time warning about its missing compiled op (item 5)."""
    import warnings
    warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')


def init_cpu_distributed(backend: str = 'gloo', timeout_s: Optional[float] = None) -> bool:
    """Initialise the default process group with gloo when launched by torchrun without CUDA.

    Returns True when this call initialised the group. Does nothing (False) when CUDA is
    available, when not launched by torchrun (no ``RANK``/``WORLD_SIZE``), or when a group exists.
    ``timeout_s``: the process-group timeout (``env_cfg.dist_cfg.timeout``; None: torch's).
    """
    import torch.distributed as dist
    if torch.cuda.is_available() or 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        return False
    if dist.is_available() and dist.is_initialized():
        return False
    import datetime
    kwargs = {} if timeout_s is None else {'timeout': datetime.timedelta(seconds=timeout_s)}
    dist.init_process_group(backend=backend, **kwargs)
    return True


def cpu_model_wrapper_cfg(find_unused_parameters: bool = False) -> Dict[str, Any]:
    """Wrapper config for DDP on CPU: ``MMDistributedDataParallel`` with ``device_ids=None``.

    mmengine fills ``device_ids=[LOCAL_RANK]`` as a *default* argument for DDP wrappers, so an
    explicit ``None`` here overrides it.
    """
    return dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
                find_unused_parameters=find_unused_parameters)


def adapt_optim_wrapper_for_cpu(cfg: Any) -> Optional[str]:
    """Item 6: make a bf16 ``AmpOptimWrapper`` config runnable without CUDA. Returns a note."""
    wrapper = cfg.get('optim_wrapper')
    if torch.cuda.is_available() or not wrapper or wrapper.get('type') not in _AMP_WRAPPERS:
        return None
    dtype = wrapper.get('dtype')
    if dtype not in ('bfloat16', 'bf16'):
        raise ValueError(f'optim_wrapper: AmpOptimWrapper with dtype={dtype!r} (fp16 with loss '
                         'scaling) needs a GPU; on this machine use dtype="bfloat16" or '
                         'type="OptimWrapper"')
    wrapper.pop('loss_scale', None)
    wrapper.update(type='SurgVistaAutocastOptimWrapper', dtype='bfloat16')
    return 'no CUDA: bf16 AmpOptimWrapper replaced by SurgVistaAutocastOptimWrapper (CPU autocast)'


def patch_runner_cfg_for_device(cfg: Any, launcher: str) -> Optional[str]:
    """Adapt a config to a machine without CUDA (items 3, 4 and 6). Returns a note or None.

    Raises:
        RuntimeError: NVIDIA devices are present but this torch build cannot use them (e.g. a
            CUDA 13 wheel on an older driver): training would silently fall back to the CPU.
    """
    if torch.cuda.is_available():
        return None
    if os.path.exists('/dev/nvidia0') and os.environ.get('SURGVISTA_ALLOW_CPU') != '1':
        raise RuntimeError(
            f'this machine has NVIDIA devices but torch {torch.__version__} (CUDA '
            f'{torch.version.cuda}) cannot use them (driver too old for this build?). Install a '
            'torch build that matches the driver (make install TORCH_SPEC=...), or set '
            'SURGVISTA_ALLOW_CPU=1 to run on the CPU anyway.')
    notes = [adapt_optim_wrapper_for_cpu(cfg)]
    timeout_s = ((cfg.get('env_cfg') or {}).get('dist_cfg') or {}).get('timeout')
    if launcher != 'none' and init_cpu_distributed(timeout_s=timeout_s):
        wrapper = cfg.get('model_wrapper_cfg') or {}
        if wrapper.get('type', 'MMDistributedDataParallel') == 'MMDistributedDataParallel':
            cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(
                wrapper.get('find_unused_parameters', False))
        notes.append('initialised a gloo process group (no CUDA on this machine)')
    notes = [n for n in notes if n]
    return '; '.join(notes) if notes else None


def fsdp_optim_state_dict_to_load(model: Any, optimizer: Any, state_dict: Dict) -> Dict:
    """Item 8: ``FSDP.optim_state_dict_to_load`` with its arguments named (any torch >= 2.1)."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    return FSDP.optim_state_dict_to_load(model=model, optim=optimizer,
                                         optim_state_dict=state_dict)
