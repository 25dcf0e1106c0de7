"""Fidelity: how likely synthetic records are under a frozen model of the real data, and whether the real
data's rare types survive. Diversity is not fidelity (DESIGN.md §7): noise looks novel, so a batch can keep
its distinct-n and Vendi while drifting away from real text (docs/collapse.md).

* :mod:`.ngram`: an interpolated Kneser-Ney n-gram language model (the default frozen reference model).
* :mod:`.scorers`: per-record log-perplexity under that model, or under a vLLM model (prompt logprobs).
* :mod:`.rare`: rare-type support and recall against the real data.
* :mod:`.rules`: the two-sided perplexity-distribution rule, calibrated on real-vs-real draws, and the
  rare-type rule; :mod:`.gate` runs them.
* :mod:`.metrics`: the fidelity rows of ``synthgen metrics``; :mod:`.report`: markdown and HTML fragments.

Nothing heavy is imported here; vLLM loads only inside :class:`~.scorers.VllmScorer`.
"""
