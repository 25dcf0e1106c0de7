"""A measured synthetic share: the largest share the real data can carry without losing held-out fidelity.

A cap is a guess made before the data exists. The collapse benchmark (docs/collapse.md) found that the gate
and the choice of rows cannot remove what a 0.5 share of synthetic text costs the next model: the share
itself has to shrink. This module measures how far it should. It fits the fidelity gate's Kneser-Ney
trigram (:class:`synthgen.fidelity.ngram.KneserNeyLM`) on the real rows plus the synthetic rows the mix
would add at share s, scores real text *held out of that fit*, and keeps the largest share whose held-out
perplexity rises by at most ``max_perplexity_rise`` over the real rows alone (bisection from the offered
share down; the rise grows with the share).

The held-out text must be text the generator never saw (not its training data, not its seeds or few-shot
examples): scored on text the generator learnt from, synthetic rows carry that text's n-grams and look
*better* than real data, so any share would pass (measured: docs/collapse.md, "Can the gate measure how
large a share is safe?"). Give such rows as ``validation``; otherwise a seeded ``validation_share`` of the
real rows is held out of the fit (they stay in the mix: real data is never dropped). Texts are compared as
the model reads them (casefolded tokens): a real text that is a held-out one is never fitted on, and
synthetic copies of held-out texts are left out of the measurement (and named).

Which rows make up a share below the cap: the first rows of the strategy's own order (best first for
``best_score`` and ``diversity_first``; interleaved by length strata for ``importance``; the strata in turn
for ``stratified``; a seeded random order for ``random``), so a smaller share keeps what the strategy
prefers. When the proxy is fitted on fewer real rows than the mix has (a held-out part, ``max_fit_rows``),
its synthetic rows are an even sample of that whole prefix, so the rows the mix keeps last are measured too.

What it sees: how far the synthetic rows move an n-gram model of the real text (a conversation is read as
its ``role: content`` lines, every turn). That is fidelity to the real data's words and phrasings, what
collapse erodes; it is no check of correctness, or of topic or task coverage, and text made of the real
data's own words in a scrambled order can pass. Shares count rows, while the model weighs tokens: a few
very long rows can move the share (the mix warns about rows far longer than the real ones).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..cjk import text_units
from .base import MixError
from .caps import synthetic_allowance

MIN_VALIDATION_ROWS = 20  # distinct texts (as the model reads them) on each side
MIN_FIT_ROWS = 20
VALIDATION_KEY = "mix.validation"
HELD_OUT = "held out of the real rows"


@dataclass(frozen=True)
class ShareMeasure:
    """How the share is measured. ``max_fit_rows`` and ``max_validation_rows`` bound the cost: the real rows
    the proxy is fitted on, and the held-out rows it scores, are seeded samples of at most that many (the
    synthetic rows scaled with the fitted ones). ``steps``: bisection steps after the offered share."""

    max_perplexity_rise: float = 0.05
    validation_share: float = 0.2
    steps: int = 5
    order: int = 3
    max_fit_rows: int = 20_000
    max_validation_rows: int = 5_000

    def __post_init__(self) -> None:
        if not (0 < self.max_perplexity_rise and math.isfinite(self.max_perplexity_rise)):
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
    long_rows: str | None = None  # a warning: synthetic rows far longer than the real ones (they move the share)
    copies: int = 0  # synthetic rows that copy a held-out text: left out of the measurement

    def summary(self) -> dict[str, Any]:
        kept = [ratio for share, ratio in self.probes if share == self.share]
        return {"share": self.share, "offered_share": self.offered_share,
                "max_perplexity_rise": self.max_perplexity_rise,
                "perplexity_ratio": kept[0] if kept else 1.0, "baseline_perplexity": self.baseline_perplexity,
                "probes": [{"share": s, "perplexity_ratio": r} for s, r in self.probes],
                "n_fit": self.n_fit, "n_validation": self.n_validation, "validation": self.validation,
                "copies_of_validation": self.copies}


def measure_share(fit_texts: Sequence[str], validation_texts: Sequence[str], synthetic_texts: Sequence[str],
                  settings: ShareMeasure, seed: int = 0, validation: str = HELD_OUT, n_real: int | None = None,
                  progress: Callable[[str], None] | None = None) -> ShareMeasurement:
    """The largest share of ``synthetic_texts`` (in their order: a smaller share keeps a prefix) beside
    ``fit_texts`` whose held-out perplexity on ``validation_texts`` is within the allowed rise. Shares are
    of the mix, whose real rows number ``n_real`` (default: the fit texts); the proxy keeps its proportions.
    ``progress`` gets a line as it starts (the real text alone is fitted first) and one per share tried."""
    n_real = len(fit_texts) if n_real is None else n_real
    offered = len(synthetic_texts) / (len(synthetic_texts) + n_real) if synthetic_texts else 0.0
    fit_texts = _sampled(fit_texts, settings.max_fit_rows, seed)
    validation_texts = _sampled(validation_texts, settings.max_validation_rows, seed)
    say = progress or (lambda line: None)
    say(f"measuring the synthetic share: {len(synthetic_texts)} synthetic rows offered beside {n_real} real, fitted "
        f"with {len(fit_texts)} real texts, scored on {len(validation_texts)} held-out ones "
        f"(up to {settings.steps + 2} fits)")
    probe = _Probe(fit_texts, validation_texts, synthetic_texts, settings.order, n_real)
    result = ShareMeasurement(0.0, offered, probe.baseline, [], len(fit_texts), len(validation_texts), validation,
                              settings.max_perplexity_rise, copies=probe.copies)
    if not synthetic_texts:
        return result
    limit = 1 + settings.max_perplexity_rise
    lo, hi = 0.0, offered
    share = hi
    for _ in range(settings.steps + 1):
        ratio = probe.ratio(share, share >= offered)
        result.probes.append((share, ratio))
        say(f"  share {share:.3f}: held-out perplexity x{ratio:.4f} ({'within' if ratio <= limit else 'over'} "
            f"x{limit:.4f})")
        if ratio <= limit:
            lo = share
            if share == offered:
                break
        else:
            hi = share
        share = (lo + hi) / 2
    result.share = lo
    return result


def percent(rise: float) -> str:
    """``0.05`` → ``5%``, ``0.005`` → ``0.5%``, ``12.5`` → ``1250%`` (never rounded to 0%)."""
    return f"{rise * 100:g}%"


def describe_measurement(measured: dict[str, Any] | None) -> str | None:
    """One line for the CLI, reports and dataset card from :meth:`ShareMeasurement.summary`; None if absent."""
    if not isinstance(measured, dict):
        return None
    source = "mix.validation" if measured.get("validation") != HELD_OUT else "held out of the real rows"
    return (f"measured share limit {measured['share']:.3f} of {measured['offered_share']:.3f} offered (in whole rows "
            f"the mix stays at or below it): the held-out "
            f"perplexity of {measured['n_validation']} real rows ({source}) x{measured['perplexity_ratio']:.4f} "
            f"(allowed x{1 + measured['max_perplexity_rise']:.4f})")


def rows_at_share(n_real: int, n_offered: int, share: float) -> int:
    """Synthetic rows beside ``n_real`` real ones at ``share`` (never more than offered)."""
    if share <= 0:
        return 0
    allowance = synthetic_allowance(n_real, share)
    return n_offered if allowance is None else min(allowance, n_offered)


def split_for_measure(real_texts: Sequence[str], validation_texts: Sequence[str] | None, settings: ShareMeasure,
                      seed: int) -> tuple[list[str], list[str], str]:
    """``(fit, held out, source)``: ``validation_texts`` when given (source ``mix.validation``), else a seeded
    ``validation_share`` of the real texts (source :data:`HELD_OUT`). A real text that reads as a held-out
    one (same casefolded tokens) is never fitted on. Too few distinct texts on either side: a MixError."""
    if validation_texts is None:
        n = len(real_texts)
        held_at = set(random.Random(seed).sample(range(n), round(n * settings.validation_share)))
        held, source = [t for i, t in enumerate(real_texts) if i in held_at], HELD_OUT
    else:
        held, source = list(validation_texts), VALIDATION_KEY
    held_keys = {text_key(t) for t in held}
    keyed = [(t, key) for t, key in ((t, text_key(t)) for t in real_texts) if key not in held_keys]
    fit = [t for t, _ in keyed]
    _check_sizes(len(real_texts), fit, len({key for _, key in keyed}), len(held_keys), source)
    return fit, held, source


def text_key(text: str) -> str:
    """A text as the n-gram model reads it: its casefolded tokens (so case and spacing variants match)."""
    from ..diversity.lexical import tokenize

    return " ".join(tokenize(text))


def _check_sizes(n_real: int, fit: list[str], n_fit: int, n_held: int, source: str) -> None:
    """``n_fit`` and ``n_held``: the distinct texts on each side (``fit`` may repeat some)."""
    if n_held < MIN_VALIDATION_ROWS:
        if source == VALIDATION_KEY:
            raise MixError(f"mix.measure_share needs at least {MIN_VALIDATION_ROWS} distinct real texts to measure "
                           f"on; {VALIDATION_KEY} has {n_held}",
                           hint=f"give at least {MIN_VALIDATION_ROWS} real rows the generator never saw as "
                                f"{VALIDATION_KEY}")
        needed = MIN_VALIDATION_ROWS + MIN_FIT_ROWS
        fix = (f"raise mix.validation_share, or give real rows the generator never saw as {VALIDATION_KEY}"
               if n_real >= needed else f"with fewer than {needed} real texts give {VALIDATION_KEY} (real rows the "
               "generator never saw), or add real rows")
        raise MixError(f"mix.measure_share needs at least {MIN_VALIDATION_ROWS} distinct real texts to measure on; "
                       f"mix.validation_share holds out {n_held} of the {n_real} real texts", hint=fix)
    if n_fit < MIN_FIT_ROWS:
        overlap = n_real - len(fit)
        if source == VALIDATION_KEY and overlap:
            raise MixError(f"{overlap} of the {n_real} real texts are also in {VALIDATION_KEY}, which leaves {n_fit} "
                           f"distinct ones to fit on (at least {MIN_FIT_ROWS} needed): the measurement would score "
                           "what it fitted", hint=f"give {VALIDATION_KEY} real rows that are not in mix.real")
        raise MixError(f"mix.measure_share needs at least {MIN_FIT_ROWS} distinct real texts to fit on; the real "
                       f"data leaves {n_fit}", hint="add real rows, or turn mix.measure_share off")


def long_rows_note(real_texts: Sequence[str], synthetic_texts: Sequence[str], factor: int = 10) -> str | None:
    """A warning when synthetic rows are over ``factor`` times as long (in words, a CJK character one) as 99%
    of the real texts: the share counts rows but the measurement weighs words, so such rows can move it."""
    if not real_texts or not synthetic_texts:
        return None
    lengths = sorted(text_units(t) for t in real_texts)
    typical = max(lengths[min(len(lengths) - 1, int(0.99 * len(lengths)))], 1)
    long = [n for n in (text_units(t) for t in synthetic_texts) if n > factor * typical]
    if not long:
        return None
    rows = "1 synthetic row is" if len(long) == 1 else f"{len(long)} synthetic rows are"
    return (f"{rows} over {factor}x as long as 99% of the real texts ({typical} words; the longest has {max(long)}): "
            "the measured share counts rows but weighs words, so such rows can move it; drop them with a length "
            "verifier before mixing")


def _sampled(texts: Sequence[str], limit: int, seed: int) -> list[str]:
    if len(texts) <= limit:
        return list(texts)
    keep = sorted(random.Random(seed).sample(range(len(texts)), limit))
    return [texts[i] for i in keep]


class _Probe:
    """Held-out perplexity of the proxy fitted on the real texts plus the synthetic rows of a share: the rows
    the mix keeps at that share (a prefix of the order), as an even sample scaled to the fitted real texts.
    Synthetic copies of held-out texts are left out (``copies``): they would make the share look better."""

    def __init__(self, fit_texts: Sequence[str], validation_texts: Sequence[str], synthetic: Sequence[str],
                 order: int, n_real: int):
        from ..diversity.lexical import tokenize
        from ..fidelity.ngram import raw_counts

        self.order, self.n_real, self.n_fit = order, n_real, len(fit_texts)
        self.fit = raw_counts((tokenize(t) for t in fit_texts), order)  # counted once, for every probe
        self.validation = [tokenize(t) for t in validation_texts]
        held = {" ".join(tokens) for tokens in self.validation}  # text_key, from the tokens already made
        self.synthetic = [tokenize(t) for t in synthetic]
        self.copy = [" ".join(tokens) in held for tokens in self.synthetic]
        self.copies = sum(self.copy)
        self.baseline = self.perplexity([])

    def perplexity(self, docs: list[list[str]]) -> float:
        """Token-level perplexity of the held-out texts (end markers included)."""
        from ..fidelity.ngram import KneserNeyLM, merged_counts, raw_counts

        model = KneserNeyLM(self.order).fit_counts(merged_counts(self.fit, raw_counts(docs, self.order)))
        logprob = tokens = 0
        for doc in self.validation:
            lp, n = model.doc_logprob(doc)
            logprob, tokens = logprob + lp, tokens + n
        return math.exp(-logprob / tokens)

    def ratio(self, share: float, whole: bool = False) -> float:
        """The perplexity ratio at ``share`` (``whole``: every offered row, the offered share)."""
        kept = len(self.synthetic) if whole else rows_at_share(self.n_real, len(self.synthetic), share)
        m = min(kept, round(kept * self.n_fit / self.n_real)) if self.n_real else kept
        picked = [kept * i // m for i in range(m)] if m else []
        return self.perplexity([self.synthetic[i] for i in picked if not self.copy[i]]) / self.baseline
