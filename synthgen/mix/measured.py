"""A measured synthetic share: the largest share the real data can carry without losing held-out fidelity.

A cap is a guess made before the data exists. The collapse benchmark (docs/collapse.md) found that the gate
and the choice of rows cannot remove what a 0.5 share of synthetic text costs the next model: the share
itself has to shrink. This module measures how far it should. It fits the fidelity gate's Kneser-Ney
trigram (:class:`synthgen.fidelity.ngram.KneserNeyLM`) on the real rows plus the synthetic rows the mix
would add at share s, scores real text *held out of that fit*, and keeps the largest share whose held-out
perplexity rises by at most ``max_perplexity_rise`` over the real rows alone (bisection from the cap's
share down; the rise grows with the share).

The held-out text must be text the generator never saw (not its training data, not its seeds or few-shot
examples): scored on text the generator learnt from, synthetic rows carry that text's n-grams and look
*better* than real data, so any share would pass (measured: docs/collapse.md, "Can the gate measure how
large a share is safe?"). Give such rows as ``validation``; otherwise a seeded ``validation_share`` of the
real rows is held out of the fit (they stay in the mix: real data is never dropped).

Which rows make up a share below the cap: a seeded shuffle of the rows the strategy chose at the cap, so
each smaller share is a uniform part of that choice and keeps its strategy's character.

What it sees: how far the synthetic rows move an n-gram model of the real text, i.e. drift in the real
data's own words and phrasings (what collapse does). Text with words of its own moves it little (the test
backend's lines of random words at a 0.29 share beside 150 pydoc paragraphs: ×1.045), so it is no check of
topic or task coverage.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .base import MixError
from .caps import synthetic_allowance

MIN_VALIDATION_ROWS = 20
MIN_FIT_ROWS = 20
VALIDATION_KEY = "mix.validation"
HELD_OUT = "held out of the real rows"


@dataclass(frozen=True)
class ShareMeasure:
    """How the share is measured. ``max_fit_rows`` bounds the cost: the real rows the proxy is fitted on
    are a seeded sample of at most that many (the synthetic rows scaled with them)."""

    max_perplexity_rise: float = 0.05
    validation_share: float = 0.2
    steps: int = 5
    order: int = 3
    max_fit_rows: int = 20_000

    def __post_init__(self) -> None:
        if not 0 < self.max_perplexity_rise:
            raise MixError(f"mix.max_perplexity_rise must be > 0, got {self.max_perplexity_rise}",
                           hint="e.g. 0.05: the held-out perplexity may rise by at most 5%")
        if not 0 < self.validation_share < 1:
            raise MixError(f"mix.validation_share must be between 0 and 1, got {self.validation_share}",
                           hint="e.g. 0.2: a fifth of the real rows is held out of the measurement's fit")


@dataclass
class ShareMeasurement:
    """What was measured: the share kept, each probe ``(share, perplexity ratio)`` and the sizes."""

    share: float
    offered_share: float
    baseline_perplexity: float
    probes: list[tuple[float, float]] = field(default_factory=list)
    n_fit: int = 0
    n_validation: int = 0
    validation: str = HELD_OUT
    max_perplexity_rise: float = 0.05

    def summary(self) -> dict[str, Any]:
        kept = [ratio for share, ratio in self.probes if share == self.share]
        return {"share": self.share, "offered_share": self.offered_share,
                "max_perplexity_rise": self.max_perplexity_rise,
                "perplexity_ratio": kept[0] if kept else 1.0, "baseline_perplexity": self.baseline_perplexity,
                "probes": [{"share": s, "perplexity_ratio": r} for s, r in self.probes],
                "n_fit": self.n_fit, "n_validation": self.n_validation, "validation": self.validation}


def measure_share(fit_texts: Sequence[str], validation_texts: Sequence[str], synthetic_texts: Sequence[str],
                  settings: ShareMeasure, seed: int = 0, validation: str = HELD_OUT, n_real: int | None = None,
                  progress: Callable[[str], None] | None = None) -> ShareMeasurement:
    """The largest share of ``synthetic_texts`` (in their order: a smaller share is a prefix) beside
    ``fit_texts`` whose held-out perplexity on ``validation_texts`` is within the allowed rise. Shares are
    of the mix, whose real rows number ``n_real`` (default: the fit texts); the proxy keeps its proportions.
    ``progress`` gets one line as it starts and one per probe."""
    _check_sizes(fit_texts, validation_texts, validation)
    n_real = len(fit_texts) if n_real is None else n_real
    offered = len(synthetic_texts) / (len(synthetic_texts) + n_real) if synthetic_texts else 0.0
    fit_texts = _sampled(fit_texts, settings.max_fit_rows, seed)
    synthetic_texts = synthetic_texts[:rows_at_share(len(fit_texts), len(synthetic_texts), offered)]
    say = progress or (lambda line: None)
    say(f"measuring the synthetic share: {len(synthetic_texts)} synthetic beside {len(fit_texts)} real texts, "
        f"perplexity on {len(validation_texts)} held-out real texts (up to {settings.steps + 1} fits)")
    probe = _Probe(fit_texts, validation_texts, synthetic_texts, settings.order, offered)
    result = ShareMeasurement(0.0, offered, probe.baseline, [], len(fit_texts), len(validation_texts), validation,
                              settings.max_perplexity_rise)
    if not synthetic_texts:
        return result
    limit = 1 + settings.max_perplexity_rise
    lo, hi = 0.0, offered
    share = hi
    for _ in range(settings.steps + 1):
        ratio = probe.ratio(share)
        result.probes.append((share, ratio))
        say(f"  share {share:.3f}: held-out perplexity x{ratio:.3f} ({'within' if ratio <= limit else 'over'} "
            f"x{limit:.3f})")
        if ratio <= limit:
            lo = share
            if share == offered:
                break
        else:
            hi = share
        share = (lo + hi) / 2
    result.share = lo
    return result


def describe_measurement(measured: dict[str, Any] | None) -> str | None:
    """One line for the CLI, reports and dataset card from :meth:`ShareMeasurement.summary`; None if absent."""
    if not isinstance(measured, dict):
        return None
    source = "mix.validation" if measured.get("validation") != HELD_OUT else "held out of the real rows"
    return (f"measured share {measured['share']:.3f} of {measured['offered_share']:.3f} offered: the held-out "
            f"perplexity of {measured['n_validation']} real rows ({source}) x{measured['perplexity_ratio']:.3f} "
            f"(allowed x{1 + measured['max_perplexity_rise']:.3f})")


def rows_at_share(n_real: int, n_offered: int, share: float) -> int:
    """Synthetic rows beside ``n_real`` real ones at ``share`` (never more than offered)."""
    if share <= 0:
        return 0
    allowance = synthetic_allowance(n_real, share)
    return n_offered if allowance is None else min(allowance, n_offered)


def split_validation(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """``(fit, held out)`` positions of ``n`` real texts: a seeded ``fraction`` held out, both in order."""
    held = set(random.Random(seed).sample(range(n), round(n * fraction)))
    return [i for i in range(n) if i not in held], sorted(held)


def shuffled(items: Sequence[Any], seed: int) -> list[Any]:
    """``items`` in a seeded order: every prefix is a uniform sample of them."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    return [items[i] for i in order]


def _check_sizes(fit_texts: Sequence[str], validation_texts: Sequence[str], validation: str) -> None:
    if len(validation_texts) < MIN_VALIDATION_ROWS:
        where = "mix.validation_share" if validation == HELD_OUT else VALIDATION_KEY
        raise MixError(f"mix.measure_share needs at least {MIN_VALIDATION_ROWS} real texts to measure on; "
                       f"{where} gives {len(validation_texts)}",
                       hint=f"give more real rows the generator never saw as {VALIDATION_KEY}, or raise "
                            "mix.validation_share")
    if len(fit_texts) < MIN_FIT_ROWS:
        raise MixError(f"mix.measure_share needs at least {MIN_FIT_ROWS} real texts beside the held-out ones; "
                       f"the real data has {len(fit_texts)}", hint="add real rows, or set measure_share = false")


def _sampled(texts: Sequence[str], limit: int, seed: int) -> list[str]:
    if len(texts) <= limit:
        return list(texts)
    keep = sorted(random.Random(seed).sample(range(len(texts)), limit))
    return [texts[i] for i in keep]


class _Probe:
    """Held-out perplexity of the proxy fitted on the real texts plus a prefix of the synthetic ones."""

    def __init__(self, fit_texts: Sequence[str], validation_texts: Sequence[str], synthetic: Sequence[str],
                 order: int, offered: float):
        from ..diversity.lexical import tokenize

        from ..fidelity.ngram import raw_counts

        self.order, self.offered = order, offered
        self.fit = raw_counts((tokenize(t) for t in fit_texts), order)  # counted once, for every probe
        self.n_fit = len(fit_texts)
        self.synthetic = [tokenize(t) for t in synthetic]
        self.validation = [tokenize(t) for t in validation_texts]
        self.baseline = self.perplexity(0)

    def perplexity(self, k: int) -> float:
        """Token-level perplexity of the held-out texts (end markers included)."""
        from ..fidelity.ngram import KneserNeyLM, merged_counts, raw_counts

        model = KneserNeyLM(self.order).fit_counts(merged_counts(self.fit, raw_counts(self.synthetic[:k], self.order)))
        logprob = tokens = 0
        for doc in self.validation:
            lp, n = model.doc_logprob(doc)
            logprob, tokens = logprob + lp, tokens + n
        return math.exp(-logprob / tokens)

    def ratio(self, share: float) -> float:
        k = len(self.synthetic) if share >= self.offered else rows_at_share(self.n_fit, len(self.synthetic), share)
        return self.perplexity(k) / self.baseline
