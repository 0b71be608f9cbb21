"""Writing evaluation results: JSON with NaN as null, written atomically."""
import json
import math
import os
from typing import Any

import numpy as np

from surgvista_mm.utils.io import atomic_writer

__all__ = ['to_jsonable', 'write_json_atomic']


def to_jsonable(obj: Any) -> Any:
    """Convert NumPy values and containers to JSON types; NaN and infinities become ``None``."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [to_jsonable(v) for v in (obj.tolist() if isinstance(obj, np.ndarray) else obj)]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return None if not math.isfinite(value) else value
    return obj


def write_json_atomic(obj: Any, path: str) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and an atomic rename."""
    with atomic_writer(path, 'w') as f:
        json.dump(to_jsonable(obj), f, indent=1, allow_nan=False)
        f.write('\n')
