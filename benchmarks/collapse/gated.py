"""The ``gated`` regime: every generation goes through synthgen's own stages, used as a library.

Per generation t (the batch of the generation-t model, which trains generation t + 1):

1. sample 2N candidates at the recipe temperature;
2. verifiers (``synthgen.verify``): non-empty, 5–80 words, repeated word-3-gram fraction ≤ 0.2, ≥ 90 %
   Latin letters — each wrapped in the pipeline's ``VerifierStage`` (drops counted by reason);
3. MinHash dedup (``synthgen.dedup``): a fresh ``Deduplicator`` per attempt with two reference scopes,
   the real training data and the ``HistoryIndex`` of every earlier accepted batch (128 permutations,
   word 3-grams, LSH candidates at 0.7, drop at estimated Jaccard ≥ 0.8), run through ``DedupStage``;
4. the diversity batch gate (``DiversityGate`` with synthgen's default rules) on a seeded sample of 1,000
   kept texts against 1,000 real texts and 1,000 of the previous accepted batch; TF-IDF + SVD embeddings
   (128 components, fitted once per run on the half of the real training texts the gate's 1,000 are not
   drawn from), and only the gated metrics computed, as synthgen's gate does;
5. the fidelity gate (``FidelityGate``, synthgen's defaults: per-record perplexity under a Kneser-Ney
   trigram model of half the real training texts, two-sided against the other half, and rare-type
   recall ≥ 0.8× real) on the same sample;
6. on failure, ``remediation_step`` sets the next attempt's temperature (within ``RemediationBounds``; up
   when too typical, down when too far) and the batch is sampled again; when the budget is spent the
   generation contributes nothing (starved) and the evidence says why;
7. an accepted batch is written to the history index and joins the pool; the next training set is the
   ``Mixer``'s capped mix of all real rows and the pool (cap 0.5, ``importance`` strategy: the pool's rows
   drawn toward the real training texts within their length strata; ``strategy="random"`` was the regime
   before issue 16's second pass), cut to the **measured share** (``mix.measure_share``, synthgen's
   defaults: the largest share at which a Kneser-Ney trigram of real + synthetic texts loses at most 5% of
   held-out perplexity on the corpus's validation texts, which no model trains on; ``measure=None`` turns
   it off, the regime before issue 16's third pass).

Like ``synthgen evolve``, a generation starts at the sampling its parent was accepted at (the recipe's at
generation 0), and the previous-generation rules compare like with like: they apply only while an attempt
samples as the previous batch was accepted; after remediation moved the temperature, the rules relative
to real data decide alone (issue 16: no ratchet). Within a generation, remediation never steps past a
temperature an earlier attempt failed at from the other side (``Bracket``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from synthgen.dedup import DedupParams, Deduplicator, HistoryIndex
from synthgen.dedup.index import HistoryWriter
from synthgen.dedup.stage import DedupStage
from synthgen.diversity.embed import TfidfSvdEmbedder, fit_split
from synthgen.diversity.gate import DiversityGate, describe_decision
from synthgen.diversity.metrics import MetricSettings
from synthgen.diversity.remediate import Bracket, Levers, RemediationBounds, remediation_step
from synthgen.mix import Mixer
from synthgen.mix.measured import ShareMeasure
from synthgen.pipeline import VerifierStage
from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify import LengthVerifier, NonEmptyVerifier, RepetitionVerifier, ScriptVerifier

from .bigram import BigramLM
from .corpus import Corpus
from .regimes import Regime

DEDUP = DedupParams(num_perm=128, ngram=3, lsh_threshold=0.7, threshold=0.8)
OVERRIDE = "collapse benchmark: the gated regime keeps the 0.5 cap of capped_0.5 to isolate the other stages"
SVD_COMPONENTS = 128    # the gate's TF-IDF embedder (synthgen's default is 256)
NO_LEVERS = Levers(widen_seeds=False, few_shot=False)  # a bigram sampler has no seeds or few-shot examples
_REQUEST = GenerationRequest(index=0, prompt="", seed=Seed(0, {}), sampling_seed=0)


def verifiers() -> list:
    return [NonEmptyVerifier(), LengthVerifier(unit="words", min=5, max=80),
            RepetitionVerifier(n=3, max_fraction=0.2), ScriptVerifier(scripts=["latin"], min_share=0.9)]


def seeded_sample(items: list, k: int, rng: np.random.Generator) -> list:
    if len(items) <= k:
        return list(items)
    return [items[i] for i in np.sort(rng.choice(len(items), size=k, replace=False))]


def diversity_parts(corpus: Corpus, seed: int, gate_sample: int) -> tuple[DiversityGate, TfidfSvdEmbedder, list[str]]:
    """The diversity gate (synthgen's default rules), its embedder fitted on part of the real training texts,
    and the gate's real reference: a seeded sample of the training texts the embedder was not fitted on."""
    fitted = fit_split(corpus.train_texts, seed, min_held_out=1)
    embedder = TfidfSvdEmbedder(n_components=SVD_COMPONENTS, seed=seed).fit(fitted)
    unseen = sorted(set(corpus.train_texts) - set(fitted))
    reference = seeded_sample(unseen, gate_sample, np.random.default_rng([seed, 1]))
    return DiversityGate(settings=MetricSettings(seed=seed)), embedder, reference


class Gated(Regime):
    name = "gated"

    def __init__(self, corpus: Corpus, temperature: float, seed: int, workdir: Path | None,
                 cap: float = 0.5, candidates: int = 2, gate_sample: int = 1000,
                 bounds: RemediationBounds | None = None, fidelity: Any = None, strategy: str = "importance",
                 measure: ShareMeasure | None = ShareMeasure()):
        super().__init__(corpus, temperature, seed)
        if workdir is None:
            raise ValueError("the gated regime needs a workdir for its dedup history index")
        self.corpus, self.cap, self.gate_sample, self.strategy = corpus, cap, gate_sample, strategy
        self.measure = measure
        self.validation_rows = [{"text": text} for text in corpus.validation_texts]
        self.n_candidates = candidates * len(self.real)
        self.bounds = bounds or RemediationBounds()
        self.gate, self.embedder, self.reference = diversity_parts(corpus, seed, gate_sample)
        self.index = HistoryIndex(Path(workdir) / f"history-T{temperature:g}-s{seed}")
        ids = [f"real-{i}" for i in range(len(self.real))]
        self.real_sketches = Deduplicator(DEDUP).prepare(ids, corpus.train_texts).sketches
        self.real_rows = [{"id": i, "text": text} for i, text in zip(ids, corpus.train_texts)]
        self.fidelity = fidelity
        self.sampling = {"temperature": temperature, "top_p": 1.0}   # where the next generation starts
        self.pool_texts: list[str] = []
        self.previous: list[str] | None = None
        self.previous_sampling: dict[str, float] | None = None
        self.mix_info: dict[str, Any] | None = None

    # --- one generation ------------------------------------------------------------------------

    def produce(self, model: BigramLM, t: int, rng: np.random.Generator):
        sampling = dict(self.sampling)
        attempts: list[dict[str, Any]] = []
        move = 0.0  # the last retry's temperature change (remediation bisects when the direction flips)
        bracket = Bracket()  # temperatures this generation failed at, from either side
        while True:
            if sampling["top_p"] != 1.0:
                raise NotImplementedError("the bigram sampler has no top_p; bounds must keep max_top_p = 1")
            docs = model.sample(self.n_candidates, sampling["temperature"], rng)
            kept, engine, funnel = self.screen(docs)
            result, skipped = self.evaluate([c.text for c in kept], sampling, rng)
            step = remediation_step(result, sampling, len(attempts), self.bounds, move, NO_LEVERS, bracket)
            attempts.append(attempt_record(sampling, funnel, result, step) | {"previous_skipped": skipped})
            if result.passed:
                self.commit(kept, engine, t, sampling)
                return [docs[c.columns["doc"]] for c in kept], evidence(attempts, len(kept), sampling)
            if not step.retry:
                return [], evidence(attempts, 0, sampling)
            move = step.temperature - sampling["temperature"]
            bracket = bracket.after(sampling["temperature"], step.temperature, step.anchored)
            sampling = {"temperature": step.temperature, "top_p": step.top_p}

    def screen(self, docs: list[np.ndarray]) -> tuple[list[Candidate], Deduplicator, dict[str, Any]]:
        """Verifier stages, then the dedup stage; the funnel counts every drop by stage and reason."""
        texts = self.corpus.texts(docs)
        candidates = [Candidate(_REQUEST, 0, text, len(doc), columns={"doc": i})
                      for i, (text, doc) in enumerate(zip(texts, docs))]
        funnel: dict[str, Any] = {"candidates": len(candidates), "dropped": {}}
        engine = self.engine()
        for stage in [VerifierStage(v) for v in verifiers()] + [DedupStage(engine)]:
            candidates = stage.run(candidates)
            if stage.stats.dropped:
                funnel["dropped"][stage.name] = dict(stage.stats.dropped)
        funnel["kept"] = len(candidates)
        return candidates, engine, funnel

    def engine(self) -> Deduplicator:
        engine = Deduplicator(DEDUP)
        engine.add_reference("real", self.real_sketches)
        if self.index.meta() is not None:
            self.index.check(DEDUP.num_perm, DEDUP.seed, engine.ngram_)
            history = self.index.load(DEDUP.num_perm)
            if len(history):
                engine.add_reference("history", history)
        return engine

    def evaluate(self, texts: list[str], sampling: dict, rng: np.random.Generator) -> tuple[Any, bool]:
        """Diversity (+ fidelity) gate on a sample; previous-generation rules only like with like."""
        batch = seeded_sample(texts, self.gate_sample, rng)
        like = self.previous is not None and sampling == self.previous_sampling
        previous = seeded_sample(self.previous, self.gate_sample, rng) if like else None
        result = self.gate.evaluate(batch, self.reference, previous, embedder=self.embedder)
        if self.fidelity is not None:
            result = result.merged(self.fidelity.evaluate(batch))
        return result, self.previous is not None and not like

    def commit(self, kept: list[Candidate], engine: Deduplicator, t: int, sampling: dict) -> None:
        HistoryWriter(self.index, f"gen{t:03d}", DEDUP.seed).write(engine.run_, 0, engine.ngram_)
        self.previous = [c.text for c in kept]
        self.previous_sampling, self.sampling = dict(sampling), dict(sampling)

    # --- the next training set -----------------------------------------------------------------

    def training(self, batch, t, rng):
        start = len(self.pool)
        self.pool += batch
        self.pool_texts += self.corpus.texts(batch)
        rows = [{"id": f"syn-{i}", "text": self.pool_texts[i], "row": i} for i in range(len(self.pool))]
        mixer = Mixer(max_synthetic_share=self.cap, strategy=self.strategy, seed=self.seed * 1000 + t, depth=t + 1,
                      loop_temperature=self.temperature, override_reason=OVERRIDE, measure=self.measure)
        result = mixer.mix(self.real_rows, rows, self.validation_rows if self.measure else None)
        chosen = [r["row"] for r in result.records if r["source"] == "synthetic"]
        summary = result.summary()
        kept = ("n_real", "n_synthetic", "n_offered", "cap", "default_cap", "override", "dropped", "measured")
        self.mix_info = {k: summary[k] for k in kept} | {"pool_added": len(self.pool) - start}
        return self.real + [self.pool[i] for i in chosen], result.synthetic_share


def attempt_record(sampling: dict, funnel: dict, result: Any, step: Any) -> dict[str, Any]:
    """One attempt's evidence: sampling, funnel, each gate decision (value, threshold) and the remedy."""
    decisions = {f"{d['metric']}@{d.get('gate') or d['against']}": {
        "value": d["value"], "threshold": d["threshold"], "ratio": d["ratio"], "status": d["status"],
        "side": d.get("side")} for d in result.decisions}
    return {"temperature": sampling["temperature"], "top_p": sampling["top_p"], **funnel,
            "passed": result.passed, "failed": [f"{d['metric']}@{d.get('gate') or d['against']}"
                                                for d in result.failures if _blocking(d)],
            "reasons": [describe_decision(d) for d in result.failures if _blocking(d)], "decisions": decisions,
            "remediation": None if result.passed else step.message, "retry": step.retry}


def _blocking(decision: dict) -> bool:
    """A failing decision; a fidelity rule that could not be computed only warns (synthgen's default)."""
    return decision["status"] == "fail" or decision.get("gate") != "fidelity"


def evidence(attempts: list[dict[str, Any]], accepted: int, sampling: dict) -> dict[str, Any]:
    return {"fired": not attempts[0]["passed"], "first_failed": attempts[0]["failed"], "attempts": attempts,
            "n_attempts": len(attempts), "accepted": accepted, "final_temperature": sampling["temperature"],
            "starved": accepted == 0}
