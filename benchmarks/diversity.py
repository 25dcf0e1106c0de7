"""Diversity metrics at scale: embedding throughput, every embedding metric on 100,000 × 384, peak memory,
and how each metric's cost grows from 10k to 100k rows (plus the lexical metrics on texts).

Embeddings are random but structured: unit vectors around Zipf-weighted cluster centres (the reference),
and a collapsed batch drawn from a quarter of those centres with tighter spread. Target: the whole
embedding table (both sides; all metrics but self-BLEU) on 100k × 384 in under 10 s on the dev machine.

    .venv/bin/python benchmarks/diversity.py [--n 100000] [--dim 384] [--no-embed] [--gate-only]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import time
import tracemalloc
from typing import Callable

import numpy as np

from synthgen.diversity import lexical
from synthgen.diversity.clusters import assign_clusters, fit_clusters
from synthgen.diversity.metrics import MetricSettings, embedding_table
from synthgen.diversity.semantic import mean_pairwise_cosine, nearest_neighbour_similarities, vendi_score


def structured(n: int, dim: int, centres: int, spread: float, seed: int, use: float = 1.0) -> np.ndarray:
    """Unit rows around ``centres`` random directions with Zipf weights; ``use`` < 1 keeps the top share."""
    rng = np.random.default_rng(seed)
    keep = max(1, int(centres * use))
    weights = 1 / np.arange(1, keep + 1)
    centre = np.random.default_rng(0).normal(size=(centres, dim))[:keep]
    labels = rng.choice(keep, size=n, p=weights / weights.sum())
    x = centre[labels] / math.sqrt(dim) + spread * rng.normal(size=(n, dim)) / math.sqrt(dim)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def timed(func: Callable, *args) -> tuple[float, float]:
    """(seconds, peak MiB traced by tracemalloc) of one call."""
    tracemalloc.start()
    start = time.perf_counter()
    func(*args)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak


def embedding_metrics(settings: MetricSettings) -> dict[str, Callable]:
    def clusters(e):
        assign_clusters(e, fit_clusters(e[: len(e) // 2], settings.clusters, 0))

    def nearest(e):
        nearest_neighbour_similarities(e, settings.nn_queries)

    return {"mean_pairwise_cosine": mean_pairwise_cosine, f"nn_similarity ({settings.nn_queries} queries)": nearest,
            "vendi (dual)": vendi_score,
            f"kmeans k={settings.clusters} + assign": clusters}


def scaling(dim: int, sizes: list[int], settings: MetricSettings) -> list[tuple]:
    rows = []
    for name, func in embedding_metrics(settings).items():
        times = [timed(func, structured(n, dim, 300, 0.8, n))[0] for n in sizes]
        rows.append((name, *times, _exponent(sizes, times)))
    return rows


def exact_nn(dim: int, sizes: list[int]) -> tuple:
    times = [timed(nearest_neighbour_similarities, structured(n, dim, 300, 0.8, n))[0] for n in sizes]
    return ("nn_similarity (all rows, exact)", *times, _exponent(sizes, times))


def _exponent(sizes: list[int], times: list[float]) -> float:
    return math.log(times[-1] / times[0]) / math.log(sizes[-1] / sizes[0])


def texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(20_000)]
    weights = [1 / (i + 1) for i in range(len(words))]
    return [" ".join(rng.choices(words, weights, k=20)) for _ in range(n)]


def lexical_scaling(sizes: list[int]) -> list[tuple]:
    metrics = {"distinct_2": lambda t: lexical.distinct_n(t, 2), "compression_ratio": lexical.compression_ratio,
               "self_repetition": lexical.self_repetition, "vocabulary_size": lexical.vocabulary_size,
               "self_bleu (500-text sample)": lambda t: lexical.self_bleu(t, 500)}
    corpora = [texts(n, n) for n in sizes]
    rows = []
    for name, func in metrics.items():
        times = [timed(func, corpus)[0] for corpus in corpora]
        rows.append((name, *times, _exponent(sizes, times)))
    return rows


COMMON = ("the of and to in is was for on that with as by at from his her it an were are which this be or had "
          "not but what all when there can one we their said if do will each about how up out them then she many "
          "some so these would other into has more two like him see time could no make than first been its who now "
          "people my made over did down only way find use may water long little very after words called just where "
          "most know river bread city market winter children music garden doctor science history").split()


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(COMMON, k=15)).capitalize() + "." for _ in range(n)]


def embed_throughput(n: int) -> list[tuple]:
    """Texts per second of 15-word English-like sentences, model load and warm-up not counted."""
    import torch

    from synthgen.diversity.embed import MiniLMEmbedder, TfidfSvdEmbedder

    sample, rows = sentences(n, 1), []
    minilm = MiniLMEmbedder(cache=False)
    minilm.encode(sample[:8])
    for threads in (torch.get_num_threads(), 1):
        torch.set_num_threads(threads)
        seconds = timed(minilm.encode, sample)[0]
        rows.append((f"minilm (batch 64, {threads} torch threads)", n, seconds, n / seconds))
    tfidf = TfidfSvdEmbedder().fit(sentences(2000, 2))
    seconds = timed(tfidf.encode, sample)[0]
    return rows + [("tfidf+svd (256-d)", n, seconds, n / seconds)]


def gate_calls(calls: int = 4, n: int = 1000, components: int = 128) -> list[tuple]:
    """Seconds for ``calls`` gate calls (batch n vs 2n reference texts and n previous ones), the way the gate
    ran before issue 14 (tfidf refitted on batch + reference + previous each call, the whole metric table
    on both sides) and now (fitted once on half the reference, only the gated metrics)."""
    from dataclasses import replace as with_

    from synthgen.diversity.embed import TfidfSvdEmbedder, for_comparison, prepare
    from synthgen.diversity.gate import DiversityGate
    from synthgen.diversity.metrics import compute_metrics

    reference, previous = sentences(2 * n, 11), sentences(n, 12)
    batches = [sentences(n, 20 + i) for i in range(calls)]
    settings = MetricSettings(self_bleu_sample=100)

    def before():
        for batch in batches:
            embedder = for_comparison(TfidfSvdEmbedder(components), batch, reference, previous)
            compute_metrics(batch, reference, embedder, settings)
            compute_metrics(batch, previous, embedder, with_(settings, tail=False))

    def after():
        gate, embedder = DiversityGate(settings=settings), prepare(TfidfSvdEmbedder(components), reference)
        for batch in batches:
            gate.evaluate(batch, reference, previous, embedder=embedder)

    old, new = timed(before)[0], timed(after)[0]
    return [("before: refit per call, full table", calls, old, old / calls),
            ("after: fitted once, gated metrics only", calls, new, new / calls),
            ("speed-up", calls, old / new, float("nan"))]


def full_table(n: int, dim: int, settings: MetricSettings) -> tuple[float, float, list]:
    real = structured(n, dim, 300, 0.8, 1)
    batch = structured(n, dim, 300, 0.5, 2, use=0.25)
    tracemalloc.start()
    start = time.perf_counter()
    table = embedding_table(batch, real, settings)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, table


def print_table(title: str, header: tuple, rows: list[tuple]) -> None:
    print(f"\n{title}")
    print(" | ".join(f"{h:>12}" if i else f"{h:<36}" for i, h in enumerate(header)))
    for row in rows:
        print(" | ".join(_cell(v, i) for i, v in enumerate(row)))


def _cell(value, i: int) -> str:
    if i == 0:
        return f"{value:<36}"
    return f"{value:>12.3f}" if isinstance(value, float) else f"{value:>12}"


def headline(n: int, dim: int, settings: MetricSettings) -> list:
    """The whole table with the default BLAS threads, then with one (a loaded shared CPU punishes threads)."""
    from threadpoolctl import threadpool_limits

    seconds, peak, table = full_table(n, dim, settings)
    print(f"embedding table, batch {n:,} vs reference {n:,} × {dim}: {seconds:.2f} s (target < 10 s), "
          f"peak traced {peak:.0f} MiB, max RSS {_rss():.0f} MiB")
    with threadpool_limits(1):
        seconds = full_table(n, dim, settings)[0]
    print(f"  same with 1 BLAS thread: {seconds:.2f} s")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--no-embed", action="store_true", help="Skip the MiniLM/tfidf throughput run.")
    parser.add_argument("--gate-only", action="store_true", help="Only the gate-call timing (issue 14 point 3).")
    args = parser.parse_args()
    if args.gate_only:
        print_table("diversity gate, tfidf embedder: 4 calls, 1,000 texts vs 2,000 real + 1,000 previous",
                    ("gate", "calls", "seconds", "s/call"), gate_calls())
        return
    settings = MetricSettings(max_samples=args.n)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start "
          "(timings on a shared machine are noisy)")
    table = headline(args.n, args.dim, settings)
    print_table("metrics (collapsed batch vs reference)", ("metric", "batch", "real", "ratio"),
                [(r.metric, r.value, r.reference, r.ratio) for r in table])
    sizes = [10_000, 30_000, args.n]
    print_table("seconds by rows (one side); exponent = log(t_max/t_min)/log(n_max/n_min)",
                ("metric", *(f"{s:,}" for s in sizes), "exponent"), scaling(args.dim, sizes, settings))
    print_table("exact nearest neighbours (O(n²·d), for contrast)", ("metric", "2,000", "10,000", "exponent"),
                [exact_nn(args.dim, [2_000, 10_000])])
    print_table("lexical metrics on 20-word texts", ("metric", "10,000", args.n, "exponent"),
                lexical_scaling([10_000, args.n]))
    print_table("diversity gate, tfidf embedder: 4 calls, 1,000 texts vs 2,000 real + 1,000 previous",
                ("gate", "calls", "seconds", "s/call"), gate_calls())
    if not args.no_embed:
        print_table("embedding throughput (CPU)", ("embedder", "texts", "seconds", "texts/s"), embed_throughput(512))


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
