"""Registered modules: imported for their side effect of registration."""
from . import (algorithms, backbones, data_preprocessors, heads, necks, teachers,  # noqa: F401
               temporal, utils)
from .algorithms import SurgVistaPretrainer
from .backbones import SurgVistaViT, TimmImageEncoder
from .data_preprocessors import SurgVistaDataPreprocessor
from .heads import SurgVistaClsHead, SurgVistaLinearHead, SurgVistaDistillHead, SurgVistaPixelHead
from .necks import SurgVistaDecoder
from .teachers import SurgVistaImageTeacher, SurgVistaTimmTeacher
from .temporal import CausalMSTCN

__all__ = ['SurgVistaPretrainer', 'SurgVistaViT', 'SurgVistaDataPreprocessor', 'SurgVistaClsHead',
           'SurgVistaDistillHead', 'SurgVistaPixelHead', 'SurgVistaDecoder',
           'SurgVistaImageTeacher', 'SurgVistaTimmTeacher', 'TimmImageEncoder',
           'SurgVistaLinearHead', 'CausalMSTCN']
