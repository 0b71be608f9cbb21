"""Optimizer wrapper constructors."""
from .constructor import SurgVistaOptimWrapperConstructor

__all__ = ['SurgVistaOptimWrapperConstructor']
