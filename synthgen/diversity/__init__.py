"""Measured diversity: embedders, metrics, semantic near-duplicates, the batch gate, diverse selection.

Import the submodules you need (``synthgen.diversity.metrics``, ``.gate``, ``.embed``…): this package
imports nothing heavy, and torch, sentence-transformers and scikit-learn load only inside methods.
"""
