"""Module C's data regimes: how generation t's training set is built from the real data R and the
synthetic batches S_1 … S_t (collapse-literature.md §5.3). N = |R| documents are sampled per generation.

| regime               | training set of generation t                                             |
|----------------------|--------------------------------------------------------------------------|
| replace              | S_t only                                                                 |
| accumulate           | R ∪ S_1 ∪ … ∪ S_t                                                        |
| accumulate_subsample | N random documents of R ∪ S_1 ∪ … ∪ S_t (fixed budget, Kazdan et al.)     |
| capped_0.5 / 0.2     | R ∪ a random subset of S_1 … S_t sized so the synthetic share is ρ       |
| gated                | synthgen's verifiers → MinHash dedup → diversity gate (+ remediation) →  |
|                      | Mixer at ρ = 0.5 (see :mod:`.gated`)                                     |

A regime has two steps per generation: ``produce`` (the batch the current model contributes, with
the gate's evidence for ``gated``) and ``training`` (the next training set and its synthetic share).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.mix import synthetic_allowance

from .bigram import BigramLM
from .corpus import Corpus

REGIMES = ("replace", "accumulate", "accumulate_subsample", "capped_0.5", "capped_0.2", "gated")
FIDELITY_CHECKED = ("replace",)  # batches the fidelity gate judges outside the gated regime (a check needs them)


class Regime:
    """Sample N documents at the configured temperature; subclasses decide the training set."""

    name = "regime"

    def __init__(self, corpus: Corpus, temperature: float, seed: int):
        self.real, self.temperature, self.seed = corpus.train, temperature, seed
        self.pool: list[np.ndarray] = []

    def produce(self, model: BigramLM, t: int, rng: np.random.Generator) -> tuple[list[np.ndarray], dict | None]:
        return model.sample(len(self.real), self.temperature, rng), None

    def training(self, batch: list[np.ndarray], t: int, rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
        raise NotImplementedError


class Replace(Regime):
    name = "replace"

    def training(self, batch, t, rng):
        return batch, 1.0


class Accumulate(Regime):
    name = "accumulate"

    def training(self, batch, t, rng):
        self.pool += batch
        return self.real + self.pool, len(self.pool) / (len(self.real) + len(self.pool))


class AccumulateSubsample(Regime):
    name = "accumulate_subsample"

    def training(self, batch, t, rng):
        self.pool += batch
        everything = self.real + self.pool
        chosen = rng.choice(len(everything), size=len(self.real), replace=False)
        return [everything[i] for i in chosen], float((chosen >= len(self.real)).mean())


class Capped(Regime):
    """R plus ⌊ρ/(1−ρ)·|R|⌋ random documents of the synthetic pool (synthgen's allowance formula)."""

    def __init__(self, corpus: Corpus, temperature: float, seed: int, share: float):
        super().__init__(corpus, temperature, seed)
        self.share = share
        self.name = f"capped_{share:g}"

    def training(self, batch, t, rng):
        self.pool += batch
        k = min(synthetic_allowance(len(self.real), self.share), len(self.pool))
        chosen = rng.choice(len(self.pool), size=k, replace=False)
        return self.real + [self.pool[i] for i in chosen], k / (len(self.real) + k)


def make_regime(name: str, corpus: Corpus, temperature: float, seed: int, workdir: Path | None = None,
                **options: Any) -> Regime:
    """A fresh regime by name (``gated`` needs a ``workdir`` for its dedup history index)."""
    if name == "gated":
        from .gated import Gated

        return Gated(corpus, temperature, seed, workdir, **options)
    if name.startswith("capped_"):
        return Capped(corpus, temperature, seed, float(name.split("_", 1)[1]))
    plain = {"replace": Replace, "accumulate": Accumulate, "accumulate_subsample": AccumulateSubsample}
    if name not in plain:
        raise ValueError(f"unknown regime {name!r}: use one of {', '.join(REGIMES)}")
    return plain[name](corpus, temperature, seed)


def run_bigram(corpus: Corpus, regime_name: str, temperature: float, seed: int, generations: int,
               ctx: Any, workdir: Path | None = None, fidelity_sample: int = 1000, **options: Any
               ) -> list[dict[str, Any]]:
    """Module C: ``generations`` rounds of one regime; one row per generation (0 = fitted on real data).

    Row t holds the generation-t model's fidelity and the batch it produced (which trains t + 1); the
    random stream depends on (seed, temperature) only, so every plain regime shares its generation-0 batch.
    """
    from .bigram import fit
    from .fidelity import batch_fidelity
    from .measures import batch_measures, model_measures

    if regime_name == "gated":
        options = {"fidelity": ctx.fidelity, **options}
    regime = make_regime(regime_name, corpus, temperature, seed, workdir, **options)
    rng = np.random.default_rng([seed, round(temperature * 1000)])
    train, share, rows = corpus.train, 0.0, []
    for t in range(generations + 1):
        start = time.perf_counter()
        model = ctx.gen0 if t == 0 else fit(train, corpus.size)
        mix = getattr(regime, "mix_info", None)
        batch, gate = regime.produce(model, t, rng)
        row = {"module": "C", "corpus": corpus.name, "regime": regime_name, "temperature": temperature,
               "seed": seed, "generation": t, **model_measures(model, ctx), **batch_measures(batch, ctx),
               "synthetic_share": share, "train_docs": len(train), "gate": gate, "mix": mix,
               "fidelity": (batch_fidelity(batch, ctx, fidelity_sample, seed) if regime_name in FIDELITY_CHECKED
                            else None)}
        row["heldout_ppl_ratio"] = row["heldout_ppl"] / (rows[0]["heldout_ppl"] if rows else row["heldout_ppl"])
        if t < generations:
            train, share = regime.training(batch, t, rng)
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    return rows
