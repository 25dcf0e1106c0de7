"""Deduplication speed, memory and accuracy on 100,000 short documents (~50 words).

Corpus: every 50-word chunk of the stdlib's pydoc topics (real text, ~1,300 chunks), topped up with
documents sampled from a word-bigram model of the same text to 90,000, plus 10,000 planted copies of
random documents with word edits at rates 0–30% (``synthgen.dedup.evaluate.plant``).

Measured: signatures/s of synthgen's vectorized MinHash against a naive ``datasketch.MinHash.update`` loop
(one MinHash per document, one ``update`` per shingle; run on a subsample and extrapolated) and against
datasketch's ``update_batch`` with shared permutations; the whole dedup (normalize, exact keys, signatures,
LSH, verification) of all documents; peak memory; and precision/recall against exact Jaccard.
Targets: ≥ 10× the naive signature throughput; 100,000 documents deduplicated in < 60 s.

    .venv/bin/python benchmarks/dedup.py [--docs 100000] [--naive 1000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

RATES = [0.0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3]


def real_words() -> list[str]:
    import pydoc_data.topics

    return " ".join(pydoc_data.topics.topics.values()).split()


def bigram_documents(words: list[str], n_docs: int, length: int, seed: int) -> list[str]:
    """``n_docs`` documents of ``length`` words from a word-bigram model of ``words`` (vectorized walk)."""
    vocab, ids = np.unique(np.array(words), return_inverse=True)
    order = np.argsort(ids[:-1], kind="stable")
    successors = ids[1:][order]
    starts = np.searchsorted(ids[:-1][order], np.arange(len(vocab)))
    counts = np.bincount(ids[:-1], minlength=len(vocab))
    rng = np.random.default_rng(seed)
    state = rng.integers(0, len(vocab), n_docs)
    walk = np.empty((n_docs, length), np.int64)
    for step in range(length):
        walk[:, step] = state
        jump = rng.integers(0, len(vocab), n_docs)
        pick = starts[state] + (rng.random(n_docs) * np.maximum(counts[state], 1)).astype(np.int64)
        state = np.where(counts[state] > 0, successors[np.minimum(pick, len(successors) - 1)], jump)
    names = vocab.tolist()
    return [" ".join(map(names.__getitem__, row)) for row in walk.tolist()]


def build_corpus(n_docs: int, seed: int = 0) -> tuple[list[str], list[tuple[int, int, float]]]:
    from synthgen.dedup.evaluate import plant

    words = real_words()
    real = [" ".join(words[i:i + 50]) for i in range(0, len(words) - 50, 50)]
    n_base = n_docs - n_docs // 10
    base = real[:n_base] + bigram_documents(words, max(n_base - len(real), 0), 50, seed)
    return plant(base, n_docs - n_base, RATES, seed=seed)


class Clock:
    """Wall and CPU seconds of a block (CPU time is the fairer figure when other jobs share the cores)."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def naive_datasketch(texts: list[str], shingles) -> Clock:
    """A fresh ``MinHash`` per text, ``update`` once per shingle."""
    from datasketch import MinHash

    with Clock() as clock:
        for text in texts:
            minhash = MinHash(num_perm=128)
            for shingle in shingles(text):
                minhash.update(shingle.encode("utf-8"))
    return clock


def batch_datasketch(texts: list[str], shingles) -> Clock:
    """``update_batch`` per text with shared permutations (datasketch at its best)."""
    from datasketch import MinHash

    permutations = MinHash(num_perm=128).permutations
    with Clock() as clock:
        for text in texts:
            minhash = MinHash(num_perm=128, permutations=permutations, scheme="affine32")
            minhash.update_batch([s.encode("utf-8") for s in shingles(text)])
    return clock


def rate(n: int, clock: Clock) -> str:
    return f"{n / clock.cpu:,.0f} sig/s CPU ({n / clock.wall:,.0f} wall)"


CHILD = """import resource, sys
from synthgen.dedup.cli import dedup_command
dedup_command.main(sys.argv[1:], standalone_mode=False)
from pathlib import Path
hwm = [line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM")]
print("MAXRSS", hwm[0].split()[1] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def standalone(corpus: list[str]) -> tuple[float, float, dict]:
    """``synthgen dedup corpus.jsonl --out DIR`` in a child process: wall seconds, peak RSS (MiB; the
    child's own VmHWM, since ru_maxrss keeps the parent's size at fork), summary."""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "corpus.jsonl"
        source.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(corpus)))
        command = [sys.executable, "-c", CHILD, str(source), "--out", str(Path(tmp) / "out")]
        start = time.perf_counter()
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - start
        summary = json.loads((Path(tmp) / "out" / "summary.json").read_text())
    return wall, int(done.stdout.split("MAXRSS")[-1]) / 1024, summary


def peak_memory(texts: list[str], ids: list[str]) -> int:
    """tracemalloc peak (bytes) of a whole dedup run (a separate, slower pass)."""
    from synthgen.dedup import Deduplicator

    tracemalloc.start()
    Deduplicator().check(ids, texts)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def accuracy_rows(verdicts, corpus, ids, pairs, ngram) -> list[tuple[str, str]]:
    """Recall over planted pairs with exact J ≥ 0.85; precision over drops (matched pair exact J ≥ 0.8)."""
    from synthgen.dedup import NEAR_DUPLICATE
    from synthgen.dedup.evaluate import exact_jaccard, shingle_sets

    sets = shingle_sets(corpus, ngram)
    dropped = [v is not None for v in verdicts]
    strong = [(a, b) for a, b, _ in pairs if exact_jaccard(sets[a], sets[b]) >= 0.85]
    recall = np.mean([dropped[a] or dropped[b] for a, b in strong])
    position = {record_id: i for i, record_id in enumerate(ids)}
    scored = [(v.reason, exact_jaccard(sets[i], sets[position[v.matched_id]]))
              for i, v in enumerate(verdicts) if v is not None]
    near = [j for reason, j in scored if reason == NEAR_DUPLICATE]
    return [("recall, planted pairs with exact J ≥ 0.85", f"{recall:.4f} ({len(strong):,} pairs)"),
            ("precision, all drops (exact J ≥ 0.80)", f"{np.mean([j >= 0.8 for _, j in scored]):.4f} ({len(scored):,})"),
            ("precision, near drops (exact J ≥ 0.80)", f"{np.mean([j >= 0.8 for j in near]):.4f} ({len(near):,})"),
            ("precision, near drops (exact J ≥ 0.75)", f"{np.mean([j >= 0.75 for j in near]):.4f}")]


def speed_rows(corpus: list[str], n_naive: int) -> list[tuple[str, str]]:
    """Signature throughput: naive datasketch loops on a subsample (extrapolated) against synthgen."""
    from synthgen.dedup import MinHasher

    hasher = MinHasher(128, ngram=5)
    sample = corpus[:: max(len(corpus) // n_naive, 1)][:n_naive]
    naive, batch = naive_datasketch(sample, hasher.shingles), batch_datasketch(sample, hasher.shingles)
    with Clock() as ours:
        hasher.signatures(corpus)
    n, m = len(corpus), len(sample)
    return [
        (f"naive MinHash.update loop ({m:,}-doc sample)", f"{rate(m, naive)}; all docs ≈ {naive.cpu * n / m:,.0f} s CPU"),
        (f"datasketch update_batch, shared perms ({m:,})", rate(m, batch)),
        ("synthgen MinHasher.signatures (all docs)", f"{rate(n, ours)}; {ours.cpu:.2f} s CPU"),
        ("speed-up (CPU) vs naive / vs update_batch", f"{naive.cpu * n / m / ours.cpu:.1f}x / {batch.cpu * n / m / ours.cpu:.1f}x"),
    ]


def dedup_rows(corpus: list[str], ids: list[str], pairs) -> list[tuple[str, str]]:
    """Whole dedup in process, its memory, the standalone command end to end, and accuracy."""
    from synthgen.dedup import Deduplicator

    engine = Deduplicator()
    with Clock() as whole:
        verdicts = engine.check(ids, corpus)
    cli_wall, cli_rss, summary = standalone(corpus)
    reasons = [v.reason for v in verdicts if v is not None]
    return [
        ("whole dedup (exact + near, 128 perms, LSH 14x9)", f"{whole.wall:.2f} s wall, {whole.cpu:.2f} s CPU"),
        ("dropped: exact / near", f"{reasons.count('exact_duplicate'):,} / {reasons.count('near_duplicate'):,}"),
        ("tracemalloc peak of the dedup pass above", f"{peak_memory(corpus, ids) / 2**20:,.0f} MiB"),
        ("`synthgen dedup` jsonl -> parquet, child process", f"{cli_wall:.2f} s wall (start-up and I/O included), "
                                                           f"peak RSS {cli_rss:,.0f} MiB, kept {summary['kept']:,}"),
        *accuracy_rows(verdicts, corpus, ids, pairs, engine.ngram_),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=1000, help="subsample for the naive datasketch loops")
    args = parser.parse_args()

    corpus, pairs = build_corpus(args.docs)
    ids = [str(i) for i in range(len(corpus))]
    rows = [("documents (mean words)", f"{len(corpus):,} ({np.mean([len(t.split()) for t in corpus]):.1f})"),
            *speed_rows(corpus, args.naive), *dedup_rows(corpus, ids, pairs)]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}} | value\n{'-' * width}-+-{'-' * 40}")
    for name, value in rows:
        print(f"{name:<{width}} | {value}")


if __name__ == "__main__":
    main()
