"""Heads."""
from .cls_head import SurgVistaClsHead
from .linear_head import SurgVistaLinearHead
from .pretrain_heads import SurgVistaDistillHead, SurgVistaPixelHead

__all__ = ['SurgVistaClsHead', 'SurgVistaLinearHead', 'SurgVistaDistillHead', 'SurgVistaPixelHead']
