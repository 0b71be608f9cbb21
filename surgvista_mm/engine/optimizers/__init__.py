"""Optimizer wrappers and their constructors."""
from .autocast_wrapper import SurgVistaAmpOptimWrapper, SurgVistaAutocastOptimWrapper
from .constructor import SurgVistaOptimWrapperConstructor

__all__ = ['SurgVistaAmpOptimWrapper', 'SurgVistaAutocastOptimWrapper', 'SurgVistaOptimWrapperConstructor']
