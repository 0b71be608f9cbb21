"""Checkpoint conversion from published layouts to this project's layout."""
from .convert import (KINDS, ConversionReport, convert_file, convert_state_dict,
                      save_converted)
from .state_dict import check_state_dict, strip_prefix, unwrap_state_dict
from .targets import default_target, target_from_config

__all__ = ['KINDS', 'ConversionReport', 'convert_file', 'convert_state_dict', 'save_converted',
           'check_state_dict', 'strip_prefix', 'unwrap_state_dict', 'default_target',
           'target_from_config']
