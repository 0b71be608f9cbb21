"""tools/benchmark/pretrain_step.py on a tiny no-teacher config: ours, and transformers' peer
where transformers is installed (an optional benchmark-only dependency)."""
import os.path as osp
import types

import pytest

from tests.helpers.tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

TINY = f"""
_base_ = [{osp.join(ROOT, 'configs', 'pretrain', 'surgvista_vitb_no_kd.py')!r}]
num_frames = 4
img_size = 32
model = dict(
    backbone=dict(img_size=32, num_frames=4, embed_dims=32, depth=1, num_heads=2),
    pixel_decoder=dict(in_dims=32, embed_dims=16, depth=1, num_heads=2, token_grid=(2, 2, 2)))
"""


@pytest.fixture()
def tiny_config(tmp_path):
    path = tmp_path / 'tiny_no_kd.py'
    path.write_text(TINY)
    return str(path)


def test_parse_variant_knows_the_peer():
    tool = load_tool('benchmark/pretrain_step')
    assert tool.parse_variant('bf16-hf') == dict(dtype='bfloat16', attn=None, compile=False,
                                                 base=False, precision='bf16', blas=False,
                                                 hf=True)
    with pytest.raises(ValueError, match='unknown variant'):
        tool.parse_variant('fp32-xx')


@pytest.mark.parametrize('variant', ['fp32', 'bf16'])
def test_no_teacher_config_runs(tiny_config, variant):
    """A config without a teacher (plain video MAE) times the full step only. Run in a fresh
    interpreter as the tool runs every variant: the memory figures are the process's peak RSS and
    its rise over the RSS after the imports (meaningless inside a long pytest process)."""
    tool = load_tool('benchmark/pretrain_step')
    args = types.SimpleNamespace(steps=1, batch=2, device='cpu', config=tiny_config, profile=3)
    row = tool._run_child(variant, None, args, ROOT)
    assert row['impl'] == 'surgvista_mm' and row['step_s'] > 0 and row['teacher_s'] is None
    assert row['peak_mb'] >= row['model_mb'] > 0
    assert [r[0] for r in row['profile']][-1] == 'total' and len(row['profile']) == 4


def test_hf_peer_runs_the_same_work(tiny_config):
    pytest.importorskip('transformers', minversion='4.40')
    tool = load_tool('benchmark/pretrain_step')
    row = tool.run_hf_variant('fp32-hf', steps=1, batch=2, device_name='cpu', root=ROOT,
                              config=tiny_config)
    assert row['impl'].startswith('transformers ') and row['step_s'] > 0
    from mmengine.config import Config
    cfg = Config.fromfile(tiny_config)
    model = tool.hf_videomae_model(cfg, cfg.model)
    assert (model.config.hidden_size, model.config.num_hidden_layers,
            model.config.decoder_hidden_size, model.config.decoder_num_hidden_layers,
            model.config.norm_pix_loss) == (32, 1, 16, 1, True)
