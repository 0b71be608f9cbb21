"""Data transforms of surgvista_mm (imported for their registration)."""
from .augment import (PackSurgVistaClipInputs, VideoFlip, VideoRandAugment,  # noqa: F401
                      VideoRandomErasing, VideoRandomResizedCrop)
from .crop import SurgicalFrameCropLoader, TSNMultiScaleCrop
from .formatting import PackSurgVistaInputs
from .loading import SurgicalFrameLoader
from .masking import TubeMasking

__all__ = ['SurgicalFrameLoader', 'SurgicalFrameCropLoader', 'TSNMultiScaleCrop', 'TubeMasking',
           'PackSurgVistaInputs']
