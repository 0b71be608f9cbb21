# Plain video MAE with VideoMAE V2's decoder masking: a config switch that CHANGES THE OBJECTIVE
# (not the paper's recipe): the pixel decoder sees the visible tokens and half of the masked ones
# (drawn at random per clip) and the loss uses only those. Faster decoder; measured in
# docs/benchmarks.md.
_base_ = ['./surgvista_vitb_no_kd.py']
model = dict(decoder_keep_ratio=0.5)
