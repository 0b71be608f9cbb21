"""Algorithms."""
from .pretrainer import SurgVistaPretrainer

__all__ = ['SurgVistaPretrainer']
