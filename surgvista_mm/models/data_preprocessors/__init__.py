"""Data preprocessors."""
from .preprocessor import IMAGENET_MEAN_255, IMAGENET_STD_255, SurgVistaDataPreprocessor

__all__ = ['IMAGENET_MEAN_255', 'IMAGENET_STD_255', 'SurgVistaDataPreprocessor']
