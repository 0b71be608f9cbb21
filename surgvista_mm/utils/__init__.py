"""Small utilities (config checks, atomic file writes)."""
from .config_check import ConfigError, check_config, load_config
from .io import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ['ConfigError', 'check_config', 'load_config', 'atomic_write_bytes',
           'atomic_write_json', 'atomic_write_text']
