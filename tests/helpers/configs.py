"""The options a config in configs/ needs before it loads (shared by the config tests)."""
from __future__ import annotations

import os.path as osp
from typing import Any, Dict, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CUSTOM = osp.join(ROOT, 'tests', 'data', 'custom_dataset')

# the templates for one's own data need their one required option (``${data_root}``)
CONFIG_OPTIONS: Dict[str, Dict[str, Any]] = {
    'configs/finetune/surgvista_vitb_custom_phase.py': dict(data_root=f'{CUSTOM}/phase'),
    'configs/finetune/surgvista_vitb_custom_triplet.py': dict(data_root=f'{CUSTOM}/triplet'),
    'configs/finetune/surgvista_demo_custom_phase.py': dict(data_root=f'{CUSTOM}/phase'),
}


def options_for(path: str) -> Optional[Dict[str, Any]]:
    """The required options of the config at ``path`` (absolute or repository-relative)."""
    return CONFIG_OPTIONS.get(osp.relpath(osp.abspath(osp.join(ROOT, path)), ROOT))
