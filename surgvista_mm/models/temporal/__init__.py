"""Temporal models over per-frame feature sequences (the second stage of the two-stage
paradigm, docs/twostage.md)."""
from .ms_tcn import CausalMSTCN, truncated_mse

__all__ = ['CausalMSTCN', 'truncated_mse']
