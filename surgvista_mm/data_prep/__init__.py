"""Data preparation: frame extraction, converters from the official releases, generic formats
for private datasets, and the pre-training / test-split leakage guard (docs/data.md).

The submodules are imported on demand (``from surgvista_mm.data_prep import frames``) so that
``surgvista_mm.datasets`` can use the leaf module ``benchmarks`` without import cycles.
"""
