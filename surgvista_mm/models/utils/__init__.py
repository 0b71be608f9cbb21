"""Model utilities shared by backbones, necks and heads."""
from .masking import num_masked_per_slice, tube_mask_numpy, tube_mask_torch
from .pos_embed import build_pos_table, sincos_1d_videomae_table, sincos_3d_table
from .tokens import count_masked, gather_tokens, mask_order, select_masked, split_indices
from .transformer import QVBiasAttention, SurgVistaBlock, init_vit_weights

__all__ = ['num_masked_per_slice', 'tube_mask_numpy', 'tube_mask_torch', 'build_pos_table',
           'sincos_1d_videomae_table', 'sincos_3d_table', 'count_masked', 'gather_tokens',
           'mask_order', 'select_masked', 'split_indices', 'QVBiasAttention', 'SurgVistaBlock',
           'init_vit_weights']
