"""The multi-generation loop (``synthgen evolve``): accumulate real data, cap, gate, stop on degradation."""

from .loop import EvolveResult, evolve

__all__ = ["EvolveResult", "evolve"]
