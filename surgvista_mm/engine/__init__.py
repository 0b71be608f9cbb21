"""Engine components (runner, hooks, optimizer constructors) of the surgvista_mm scope."""
from .hooks import NonFiniteLossError, SurgVistaNonFiniteLossHook
from .optimizers import SurgVistaAutocastOptimWrapper, SurgVistaOptimWrapperConstructor
from .runner import RUNNERS, SurgVistaRunner

__all__ = ['NonFiniteLossError', 'SurgVistaNonFiniteLossHook', 'SurgVistaOptimWrapperConstructor',
           'SurgVistaAutocastOptimWrapper',
           'RUNNERS', 'SurgVistaRunner']
