"""Seed sources: inline rows, files, saved datasets and combinatorial grids."""

from .sources import load_seeds

__all__ = ["load_seeds"]
