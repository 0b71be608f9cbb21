"""Training hooks."""
from .checkpoint_hook import SurgVistaCheckpointHook
from .iter_seed_hook import SurgVistaIterSeedHook
from .non_finite_loss_hook import NonFiniteLossError, SurgVistaNonFiniteLossHook

__all__ = ['NonFiniteLossError', 'SurgVistaNonFiniteLossHook', 'SurgVistaCheckpointHook',
           'SurgVistaIterSeedHook']
