"""Backbones."""
from .surgvista_vit import SurgVistaViT

__all__ = ['SurgVistaViT']
