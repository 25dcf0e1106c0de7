"""A CPU benchmark that reproduces model collapse and checks that synthgen's pipeline prevents it.

Three modules with a known collapse mechanism (collapse-literature.md §5):

* A (:mod:`.gaussian`): recursive MLE of a 1-D Gaussian;
* B (:mod:`.mixture`): recursive EM of a 2-D Gaussian mixture;
* C (:mod:`.bigram`, :mod:`.regimes`, :mod:`.gated`): an interpolated word-bigram LM trained on real
  text, then on its own samples under six data regimes, the last of which runs synthgen's verifiers,
  MinHash dedup, diversity gate with remediation, and mixer.

:mod:`.measures` computes the per-generation measurements, :mod:`.checks` the literature's predictions
with PASS / FAIL, :mod:`.report` the JSON lines, the stdout table and ``docs/collapse.md`` (plots in
:mod:`.plots`). Run ``python -m benchmarks.collapse --quick`` or ``--full``.
"""

SCHEMA_VERSION = 1
