"""Module A: recursive maximum-likelihood fitting of a 1-D Gaussian (Shumailov et al. 2024).

Truth N(0, 1). Generation 0 fits mean and variance (MLE, ddof = 0) to M = 100 real draws; every later
generation draws M samples from the current fit and refits. All seeds run at once as numpy rows.

| regime     | training set of generation t                                             |
|------------|--------------------------------------------------------------------------|
| replace    | M draws from fit t−1                                                     |
| accumulate | every draw so far (the real M included), refit from running sums         |
| mix10      | 0.9·M draws from fit t−1 + 0.1·M fresh real draws (Shumailov's 10 % real)|
| cap50      | the generation-0 real M + M draws from fit t−1 (synthetic share 0.5)     |

Theory: under replace the variance is a product of independent χ²_{M−1}/M factors, so it → 0 almost
surely while its mean decays as (1 − 1/M)^t ≈ 0.37 at t = 100; the others stay bounded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

M = 100
PLAN = {"replace": (2000, 100), "accumulate": (500, 20), "mix10": (2000, 100), "cap50": (2000, 100)}
SHARE = {"replace": 1.0, "mix10": 0.9, "cap50": 0.5}


def log_generations(last: int) -> list[int]:
    """0, 1, 2, 5, 10, 20, 50, … up to and including ``last``."""
    grid = sorted({0, last} | {m * 10**e for e in range(6) for m in (1, 2, 5) if m * 10**e < last})
    return grid


def simulate(regime: str, generations: int, seeds: int, rng: np.random.Generator, m: int = M):
    """(mean, variance) arrays of shape (generations + 1, seeds)."""
    real = rng.standard_normal((seeds, m))
    mu, var = real.mean(axis=1), real.var(axis=1)
    sums, squares, count = real.sum(axis=1), (real ** 2).sum(axis=1), m
    means, variances = [mu], [var]
    for _ in range(generations):
        n_syn = int(round(0.9 * m)) if regime == "mix10" else m
        x = mu[:, None] + np.sqrt(var)[:, None] * rng.standard_normal((seeds, n_syn))
        if regime == "mix10":
            x = np.concatenate([x, rng.standard_normal((seeds, m - n_syn))], axis=1)
        elif regime == "cap50":
            x = np.concatenate([real, x], axis=1)
        if regime == "accumulate":
            sums, squares, count = sums + x.sum(axis=1), squares + (x ** 2).sum(axis=1), count + x.shape[1]
            mu = sums / count
            var = np.maximum(squares / count - mu ** 2, 0.0)
        else:
            mu, var = x.mean(axis=1), x.var(axis=1)
        means.append(mu)
        variances.append(var)
    return np.array(means), np.array(variances)


def share(regime: str, t: int) -> float:
    if t == 0:
        return 0.0
    return t / (t + 1) if regime == "accumulate" else SHARE[regime]


def run(regime: str, generations: int | None = None, seeds: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Rows for the logged generations of every seed."""
    plan_gens, plan_seeds = PLAN[regime]
    generations, seeds = generations or plan_gens, seeds or plan_seeds
    means, variances = simulate(regime, generations, seeds, np.random.default_rng([seed, list(PLAN).index(regime)]))
    return [{"module": "A", "regime": regime, "temperature": 1.0, "seed": s, "generation": t,
             "fitted_mean": float(means[t, s]), "fitted_variance": float(variances[t, s]),
             "synthetic_share": share(regime, t)}
            for t in log_generations(generations) for s in range(seeds)]
