"""Module B: recursive refitting of a 2-D Gaussian mixture (scikit-learn ``GaussianMixture``).

Truth: weights 0.8 / 0.2, means (−2, 0) and (2, 0), identity covariances. Generation 0 fits two full-
covariance components to M = 1,000 real draws; each later generation draws M points from the current
fit and refits (warm-started at the previous fit). Scored every generation on 5,000 fixed true test
points: mean log-likelihood per point, smallest covariance eigenvalue, smallest mixture weight.
Regimes as in module A: replace, accumulate, mix10 (10 % fresh real), cap50 (real M + synthetic M).
"""

from __future__ import annotations

from typing import Any

import numpy as np

M, N_TEST = 1000, 5000
WEIGHTS = np.array([0.8, 0.2])
MEANS = np.array([[-2.0, 0.0], [2.0, 0.0]])
REGIMES = ("replace", "accumulate", "mix10", "cap50")


def draw_true(n: int, rng: np.random.Generator) -> np.ndarray:
    labels = rng.choice(2, size=n, p=WEIGHTS)
    return MEANS[labels] + rng.standard_normal((n, 2))


def draw_fit(gmm: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points from a fitted mixture (our own stream, not the estimator's ``random_state``)."""
    labels = rng.choice(len(gmm.weights_), size=n, p=gmm.weights_ / gmm.weights_.sum())
    chol = np.linalg.cholesky(gmm.covariances_)
    z = rng.standard_normal((n, 2))
    return gmm.means_[labels] + np.einsum("nij,nj->ni", chol[labels], z)


def fit(x: np.ndarray, seed: int, previous: Any = None) -> Any:
    """EM from k-means at generation 0, then warm-started at the previous fit (weights, means, precisions)."""
    from sklearn.mixture import GaussianMixture

    if previous is None:
        return GaussianMixture(2, covariance_type="full", random_state=seed).fit(x)
    return GaussianMixture(2, covariance_type="full", random_state=seed, init_params="random_from_data",
                           weights_init=previous.weights_, means_init=previous.means_,
                           precisions_init=previous.precisions_).fit(x)


def training_set(regime: str, real: np.ndarray, pool: list[np.ndarray], gmm: Any, rng: np.random.Generator):
    """The next training set and its synthetic share; ``pool`` collects accumulate's draws."""
    if regime == "mix10":
        return np.concatenate([draw_fit(gmm, M - M // 10, rng), draw_true(M // 10, rng)]), 0.9
    synthetic = draw_fit(gmm, M, rng)
    if regime == "replace":
        return synthetic, 1.0
    if regime == "cap50":
        return np.concatenate([real, synthetic]), 0.5
    pool.append(synthetic)
    return np.concatenate([real, *pool]), 1 - len(real) / (len(real) * (len(pool) + 1))


def measures(gmm: Any, test: np.ndarray) -> dict[str, float]:
    return {"test_loglik": float(gmm.score(test)),
            "min_cov_eig": float(min(np.linalg.eigvalsh(c).min() for c in gmm.covariances_)),
            "min_weight": float(gmm.weights_.min())}


def run(regime: str, seed: int, generations: int = 50) -> list[dict[str, Any]]:
    """One seed of one regime: a row per generation."""
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}: use one of {', '.join(REGIMES)}")
    rng = np.random.default_rng([seed, REGIMES.index(regime)])
    test = draw_true(N_TEST, np.random.default_rng([seed, 99]))
    real = draw_true(M, rng)
    x, share, pool, rows, gmm = real, 0.0, [], [], None
    for t in range(generations + 1):
        gmm = fit(x, seed, gmm)
        rows.append({"module": "B", "regime": regime, "temperature": 1.0, "seed": seed, "generation": t,
                     **measures(gmm, test), "synthetic_share": share})
        x, share = training_set(regime, real, pool, gmm, rng)
    return rows
