"""Can a held-out proxy size the synthetic share? A probe for issue 16 (not a check of the benchmark).

At generation 1 (T = 1, seed 0) it prints, per synthetic share s, the held-out perplexity ratio of the
benchmark's bigram model trained on the real training set plus s synthetic documents of the generation-0
model, and the ratio a gate could measure without the test split: a Kneser-Ney trigram (synthgen's fidelity
estimator) fitted on half the real training texts plus synthetic texts at the same share, scored on the other
half. Measured on 2026-12-02 (fortunes corpus):

    share  bigram (test split)  proxy (other real half)
    0.05   1.006                0.973
    0.10   1.012                0.947
    0.20   1.026                0.887
    0.30   1.040                0.821
    0.50   1.063                0.645

The proxy falls where the real effect rises: the generator was fitted on every real training text, the proxy's
held-out half included, so its samples carry that half's n-grams. A gate that sizes the share by measuring
needs real text the generator never saw (a validation split withheld from its training).

    python -m benchmarks.collapse.share_probe [--corpus fortunes] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

SHARES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)


def probe(corpus_name: str = "fortunes", seed: int = 0) -> list[tuple[float, float, float]]:
    """``(share, bigram held-out ratio, proxy ratio)`` per share, both relative to share 0."""
    from synthgen.fidelity.ngram import KneserNeyLM
    from synthgen.mix import synthetic_allowance

    from .bigram import fit
    from .corpus import load_corpus

    corpus = load_corpus(corpus_name)
    gen0 = fit(corpus.train, corpus.size)
    floor = int(gen0.support.sum()) + 1
    synthetic = gen0.sample(len(corpus.train), 1.0, np.random.default_rng([seed, 1000]))
    synthetic_texts = corpus.texts(synthetic)
    order = np.random.default_rng([seed, 5]).permutation(len(corpus.train_texts))
    half = len(order) // 2
    fitted = [corpus.train_texts[i] for i in order[:half]]
    held_out = [corpus.train_texts[i] for i in order[half:]]
    rows, base = [], None
    for share in SHARES:
        k, k_half = (synthetic_allowance(n, share) if share else 0 for n in (len(corpus.train), len(fitted)))
        bigram = fit(corpus.train + synthetic[:k], corpus.size).perplexity(corpus.test, floor)
        proxy = float(np.exp(np.mean(KneserNeyLM(3).fit(fitted + synthetic_texts[:k_half]).log_perplexities(held_out))))
        base = base or (bigram, proxy)
        rows.append((share, bigram / base[0], proxy / base[1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="fortunes", choices=["fortunes", "pydoc"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("share  bigram (test split)  proxy (other real half)")
    for share, bigram, proxy in probe(args.corpus, args.seed):
        print(f"{share:.2f}   {bigram:.3f}                {proxy:.3f}")


if __name__ == "__main__":
    main()
