"""Frozen image teachers for feature distillation."""
from .base import BaseFrozenTeacher
from .image_teacher import SurgVistaImageTeacher
from .timm_teacher import SurgVistaTimmTeacher

__all__ = ['BaseFrozenTeacher', 'SurgVistaImageTeacher', 'SurgVistaTimmTeacher']
