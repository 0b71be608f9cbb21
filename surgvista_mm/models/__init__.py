"""Registered modules: imported for their side effect of registration."""
from . import algorithms, backbones, data_preprocessors, heads, necks, teachers, utils  # noqa: F401
from .algorithms import SurgVistaPretrainer
from .backbones import SurgVistaViT
from .data_preprocessors import SurgVistaDataPreprocessor
from .heads import SurgVistaClsHead, SurgVistaDistillHead, SurgVistaPixelHead
from .necks import SurgVistaDecoder
from .teachers import SurgVistaImageTeacher, SurgVistaTimmTeacher

__all__ = ['SurgVistaPretrainer', 'SurgVistaViT', 'SurgVistaDataPreprocessor', 'SurgVistaClsHead',
           'SurgVistaDistillHead', 'SurgVistaPixelHead', 'SurgVistaDecoder',
           'SurgVistaImageTeacher', 'SurgVistaTimmTeacher']
