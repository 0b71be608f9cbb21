"""Heads."""
from .cls_head import SurgVistaClsHead
from .pretrain_heads import SurgVistaDistillHead, SurgVistaPixelHead

__all__ = ['SurgVistaClsHead', 'SurgVistaDistillHead', 'SurgVistaPixelHead']
