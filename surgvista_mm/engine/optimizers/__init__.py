"""Optimizer wrappers and their constructors."""
from .autocast_wrapper import SurgVistaAutocastOptimWrapper
from .constructor import SurgVistaOptimWrapperConstructor

__all__ = ['SurgVistaAutocastOptimWrapper', 'SurgVistaOptimWrapperConstructor']
