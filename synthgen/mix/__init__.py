"""The mixer: every real row plus a capped share of synthetic rows (DESIGN.md §3, §7; issue 6).

Light to import (no datasets, pyarrow or numpy at module level)::

    from synthgen.mix import Mixer, write_mix
    result = Mixer(max_synthetic_share=0.3, strategy="diversity_first", depth=2).mix(real_rows, synthetic_rows)
    write_mix(result, "runs/gen-2/mix")

Modules: ``caps`` (defaults by depth, override rule, allowance), ``strategies`` and ``novelty`` (which rows
fill the cap), ``mixer`` (Mixer, MixResult), ``store`` (the ``mix/`` folder), ``run`` (runner hooks),
``cli`` (``synthgen mix``).
"""

from .base import DROP_REASONS, DUPLICATE_IN_MIX, INVALID_TEXT, MISSING_TEXT, OVER_MIX_CAP, MixError
from .caps import default_cap, synthetic_allowance
from .mixer import Mixer, MixResult
from .novelty import embedding_order, novelty_order
from .strategies import STRATEGIES


def write_mix(result: MixResult, out_dir):
    """Write ``result`` to ``out_dir`` (see :func:`synthgen.mix.store.write_mix`)."""
    from .store import write_mix as _write

    return _write(result, out_dir)


__all__ = ["DROP_REASONS", "DUPLICATE_IN_MIX", "INVALID_TEXT", "MISSING_TEXT", "OVER_MIX_CAP", "STRATEGIES", "MixError",
           "MixResult", "Mixer", "default_cap", "embedding_order", "novelty_order", "synthetic_allowance", "write_mix"]
