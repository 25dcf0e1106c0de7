"""The report's figures (matplotlib, Agg backend), one PNG per question, written under ``docs/collapse/``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .checks import select, series

STYLE = {"replace": "tab:red", "accumulate": "tab:blue", "accumulate_subsample": "tab:purple",
         "capped_0.5": "tab:orange", "capped_0.2": "tab:olive", "gated": "tab:green",
         "mix10": "tab:orange", "cap50": "tab:green"}
C_PANELS = (("heldout_ppl_ratio", "held-out real ppl / gen 0", True), ("rare_support", "rare-type support", False),
            ("distinct_2", "distinct-2 of the batch", False), ("vendi", "Vendi score (TF-IDF, 500 docs)", True),
            ("gen0_ppl_median", "median per-doc ppl under gen-0 model", True),
            ("rare_recall_ratio", "rare-type recall / gen-0 T=1 sample", False))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def band(ax, rows: list[dict], key: str, label: str, how=np.mean, quantiles: tuple | None = None) -> None:
    s = series(rows, key)
    if not s:
        return
    gens = sorted(s)
    ax.plot(gens, [how(s[g]) for g in gens], label=label, color=STYLE.get(label), lw=1.6)
    lo, hi = quantiles or (0, 100)
    ax.fill_between(gens, [np.percentile(s[g], lo) for g in gens], [np.percentile(s[g], hi) for g in gens],
                    color=STYLE.get(label), alpha=0.15, lw=0)


def plot_a(rows: list[dict], path: Path) -> Path | None:
    regimes = sorted({r["regime"] for r in rows if r["module"] == "A"})
    if not regimes:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for regime in regimes:
        band(ax, select(rows, "A", regime), "fitted_variance", regime, np.median, (10, 90))
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set(xlabel="generation", ylabel="fitted variance (median, p10–p90)",
           title="A. 1-D Gaussian, M = 100 per generation (truth: 1)")
    ax.axhline(1.0, color="grey", lw=0.6, ls=":")
    ax.legend(fontsize=8)
    return _save(fig, path / "module_a_variance.png", plt)


def plot_b(rows: list[dict], path: Path) -> Path | None:
    regimes = sorted({r["regime"] for r in rows if r["module"] == "B"})
    if not regimes:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for regime in regimes:
        band(axes[0], select(rows, "B", regime), "test_loglik", regime, np.median)
        band(axes[1], select(rows, "B", regime), "min_cov_eig", regime, np.median)
    axes[0].set(xlabel="generation", ylabel="test log-lik per point (median, range)", title="B. 2-D GMM fidelity")
    axes[1].set(xlabel="generation", ylabel="smallest covariance eigenvalue", title="B. component shrinkage")
    axes[0].legend(fontsize=8)
    return _save(fig, path / "module_b_gmm.png", plt)


def plot_c(rows: list[dict], path: Path, temperature: float) -> Path | None:
    c = [r for r in rows if r["module"] == "C" and r["temperature"] == temperature]
    if not c:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for regime in sorted({r["regime"] for r in c}):
        for ax, (key, _, _) in zip(axes.flat, C_PANELS):
            band(ax, select(c, "C", regime), key, regime)
    for ax, (_, label, log) in zip(axes.flat, C_PANELS):
        ax.set(xlabel="generation", title=label, yscale="log" if log else "linear")
    axes.flat[0].legend(fontsize=8)
    corpus = c[0]["corpus"]
    fig.suptitle(f"C. word-bigram LM on {corpus}, T = {temperature:g} (mean over seeds, band = seed range)")
    return _save(fig, path / f"module_c_T{temperature:g}.png", plt)


def _save(fig, file: Path, plt) -> Path:
    file.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(file, dpi=110)
    plt.close(fig)
    return file


def plot_all(rows: list[dict], path: Path) -> list[Path]:
    """Every figure the rows support; returns the files written."""
    figures = [plot_a(rows, path), plot_b(rows, path)]
    temperatures = sorted({r["temperature"] for r in rows if r["module"] == "C"}, reverse=True)
    figures += [plot_c(rows, path, t) for t in temperatures]
    return [f for f in figures if f is not None]
