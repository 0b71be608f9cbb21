"""Engine components (runner, hooks, optimizer constructors) of the surgvista_mm scope."""
from .checkpoint_io import CheckpointLoadError, load_checkpoint_file
from .fsdp import SurgVistaFlexibleRunner, SurgVistaFSDPStrategy
from .loops import SequenceTestLoop, SequenceValLoop
from .hooks import NonFiniteLossError, SurgVistaCheckpointHook, SurgVistaNonFiniteLossHook
from .amp_loops import SurgVistaTestLoop, SurgVistaValLoop
from .optimizers import (SurgVistaAmpOptimWrapper, SurgVistaAutocastOptimWrapper,
                         SurgVistaOptimWrapperConstructor)
from .runner import RUNNERS, DistributedTimeoutError, SurgVistaRunner

__all__ = ['NonFiniteLossError', 'SurgVistaNonFiniteLossHook', 'SurgVistaCheckpointHook',
           'SurgVistaOptimWrapperConstructor', 'SurgVistaAutocastOptimWrapper',
           'SurgVistaAmpOptimWrapper', 'SurgVistaValLoop', 'SurgVistaTestLoop',
           'RUNNERS', 'SurgVistaRunner', 'DistributedTimeoutError', 'CheckpointLoadError',
           'load_checkpoint_file', 'SurgVistaFlexibleRunner', 'SurgVistaFSDPStrategy',
           'SequenceValLoop', 'SequenceTestLoop']
