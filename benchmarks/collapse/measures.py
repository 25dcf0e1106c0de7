"""Module C's per-generation measurements (collapse-literature.md §5.4).

Model side (the generation-t model): held-out real perplexity, support (vocabulary) size, rare-type
support. Batch side (the synthetic documents that model produced, which train the next one): distinct-1/2,
gzip ratio and rare-type recall on a fixed token budget; Vendi score and mean pairwise cosine on the first
500 non-empty documents, embedded by one TF-IDF + SVD embedder fitted on the real training texts (fixed
across generations, so values are comparable); per-document perplexity under the frozen generation-0
model (median, p95). Rare types are the real training types seen at most twice; rare-type recall is
also given as a ratio to the generation-0 model's own T = 1 sample of the same token budget (a slice of
the training data would be a biased baseline: it holds those types by construction).

The lexical and embedding formulas are synthgen's (``synthgen.diversity.lexical`` / ``.semantic``), the
rare-type ones ``synthgen.fidelity.rare``. Each seed's context also holds synthgen's fidelity gate
(``synthgen.fidelity.gate.FidelityGate``: a Kneser-Ney trigram model fitted on half the real training texts,
calibrated on the other half), fitted once and shared by the gated regime and the fidelity checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synthgen.diversity.embed import TfidfSvdEmbedder
from synthgen.diversity.lexical import compression_ratio, distinct_n
from synthgen.diversity.semantic import mean_pairwise_cosine, vendi_score
from synthgen.fidelity.rare import rare_mask as _rare_mask
from synthgen.fidelity.rare import rare_share

from .bigram import BigramLM
from .corpus import BOS, EOS, Corpus

N_EMBED = 500
REF_SEED = 7919  # the gen-0 reference sample's stream, shared by every regime of a seed


@dataclass
class MeasureContext:
    corpus: Corpus
    floor_vocab: int              # |V| of the evaluation floor: real training types + </s>
    rare: np.ndarray              # bool over ids: real training types with count ≤ 2
    gen0: BigramLM                # the model fitted on the real training data
    embedder: TfidfSvdEmbedder    # fitted once on the real training texts
    ref_recall: float = float("nan")  # rare-type recall of gen0's T = 1 sample at the same budget
    fidelity: Any = None          # synthgen's FidelityGate, fitted on the real training texts


def rare_mask(corpus: Corpus, max_count: int = 2) -> np.ndarray:
    counts = np.bincount(np.concatenate(corpus.train), minlength=corpus.size)
    return _rare_mask(counts, max_count, exclude=(EOS, BOS))


def build_context(corpus: Corpus, gen0: BigramLM, embedder: TfidfSvdEmbedder, seed: int) -> MeasureContext:
    """The context of one seed; ``ref_recall`` from a dedicated T = 1 sample of the generation-0 model."""
    from synthgen.fidelity.gate import FidelityGate
    from synthgen.fidelity.scorers import NgramScorer

    floor_vocab = int(gen0.support.sum()) + 1
    fidelity = FidelityGate(NgramScorer(3), seed=seed).fit(corpus.train_texts)
    ctx = MeasureContext(corpus, floor_vocab, rare_mask(corpus), gen0, embedder, fidelity=fidelity)
    sample = gen0.sample(len(corpus.train), 1.0, np.random.default_rng([seed, REF_SEED]))
    ctx.ref_recall = rare_recall(budget_docs(sample, corpus.budget), ctx.rare)
    return ctx


def fit_embedder(corpus: Corpus, seed: int = 0) -> TfidfSvdEmbedder:
    return TfidfSvdEmbedder(seed=seed).fit(corpus.train_texts)


def model_measures(model: BigramLM, ctx: MeasureContext) -> dict[str, Any]:
    support = model.support
    return {"heldout_ppl": model.perplexity(ctx.corpus.test, ctx.floor_vocab), "vocab_size": int(support.sum()),
            "rare_support": rare_share(support, ctx.rare)}


def budget_docs(docs: list[np.ndarray], budget: int) -> list[np.ndarray]:
    """The leading non-empty documents holding ``budget`` tokens in all (the last one cut)."""
    out, left = [], budget
    for doc in docs:
        if left <= 0:
            break
        if len(doc):
            out.append(doc[:left])
            left -= min(left, len(doc))
    return out


def rare_recall(docs: list[np.ndarray], rare: np.ndarray) -> float:
    """|rare types present in ``docs``| / |rare types|."""
    if not docs:
        return 0.0
    return rare_share(np.concatenate(docs), rare)


def batch_measures(docs: list[np.ndarray], ctx: MeasureContext) -> dict[str, Any]:
    """Every batch-side measure of ``docs`` (None where the batch has no tokens)."""
    lengths = np.array([len(d) for d in docs]) if docs else np.zeros(0)
    out: dict[str, Any] = {"batch_docs": len(docs), "mean_length": float(lengths.mean()) if len(docs) else None}
    return out | lexical_measures(budget_docs(docs, ctx.corpus.budget), ctx) | embedding_measures(docs, ctx)


def lexical_measures(docs: list[np.ndarray], ctx: MeasureContext) -> dict[str, Any]:
    tokens = int(sum(len(d) for d in docs))
    if not docs:
        return {"budget_tokens": 0, "distinct_1": None, "distinct_2": None, "gzip_ratio": None,
                "rare_recall": 0.0, "rare_recall_ratio": 0.0}
    texts = ctx.corpus.texts(docs)
    recall = rare_recall(docs, ctx.rare)
    return {"budget_tokens": tokens, "distinct_1": distinct_n(texts, 1), "distinct_2": _distinct2(texts),
            "gzip_ratio": compression_ratio(texts), "rare_recall": recall,
            "rare_recall_ratio": recall / ctx.ref_recall if ctx.ref_recall else None}


def _distinct2(texts: list[str]) -> float | None:
    return distinct_n(texts, 2) if any(len(t.split()) > 1 for t in texts) else None


def embedding_measures(docs: list[np.ndarray], ctx: MeasureContext) -> dict[str, Any]:
    sample = [d for d in docs if len(d)][:N_EMBED]
    if len(sample) < 2:
        return {"vendi": None, "mean_cosine": None, "gen0_ppl_median": None, "gen0_ppl_p95": None}
    e = ctx.embedder.encode(ctx.corpus.texts(sample))
    nll, n = ctx.gen0.doc_nll(sample, ctx.floor_vocab)
    ppl = np.exp(nll / n)
    return {"vendi": vendi_score(e), "mean_cosine": mean_pairwise_cosine(e),
            "gen0_ppl_median": float(np.median(ppl)), "gen0_ppl_p95": float(np.quantile(ppl, 0.95))}


def real_reference(ctx: MeasureContext, seed: int = 0) -> dict[str, Any]:
    """The batch measures of the real training documents (shuffled): the human reference row."""
    order = np.random.default_rng(seed).permutation(len(ctx.corpus.train))
    return batch_measures([ctx.corpus.train[i] for i in order], ctx)
