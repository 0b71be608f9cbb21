"""Engine components (runner, hooks, optimizer constructors) of the surgvista_mm scope."""
from .checkpoint_io import CheckpointLoadError, load_checkpoint_file
from .loops import SequenceTestLoop, SequenceValLoop
from .hooks import NonFiniteLossError, SurgVistaCheckpointHook, SurgVistaNonFiniteLossHook
from .optimizers import SurgVistaAutocastOptimWrapper, SurgVistaOptimWrapperConstructor
from .runner import RUNNERS, DistributedTimeoutError, SurgVistaRunner

__all__ = ['NonFiniteLossError', 'SurgVistaNonFiniteLossHook', 'SurgVistaCheckpointHook',
           'SurgVistaOptimWrapperConstructor', 'SurgVistaAutocastOptimWrapper',
           'RUNNERS', 'SurgVistaRunner', 'DistributedTimeoutError', 'CheckpointLoadError',
           'load_checkpoint_file', 'SequenceValLoop', 'SequenceTestLoop']
