"""Necks."""
from .surgvista_decoder import SurgVistaDecoder

__all__ = ['SurgVistaDecoder']
