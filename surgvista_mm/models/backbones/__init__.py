"""Backbones."""
from .image_encoder import TimmImageEncoder
from .surgvista_vit import SurgVistaViT

__all__ = ['SurgVistaViT', 'TimmImageEncoder']
