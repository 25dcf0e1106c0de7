"""The Mixer: all of the real data, plus at most a capped share of synthetic data.

Accumulate, never replace (Gerstgrasser et al. 2024; collapse-literature.md §4 G1): every real row is in
the mix, and synthetic rows fill at most ⌊cap/(1−cap) · n_real⌋ places, chosen by a strategy. Every
synthetic row left out comes back in ``MixResult.dropped`` with a reason; the mix never holds a row that
was not given, nor the same synthetic row (or text) twice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

from .base import (DUPLICATE_IN_MIX, INVALID_TEXT, MISSING_TEXT, OVER_MEASURED_SHARE, OVER_MIX_CAP, SOURCE_REAL,
                   SOURCE_SYNTHETIC, MixError, MixTexts, is_non_text, mix_text, real_text, real_texts_of, written_text)
from .caps import CAP_KEY, OVERRIDE_KEY, default_cap, resolve_cap, synthetic_allowance
from .fields import check_text_field, columns, label_rows, require_field, with_reason
from .measured import (VALIDATION_KEY, ShareMeasure, ShareMeasurement, long_rows_note, measure_share, percent,
                       rows_at_share, split_for_measure)
from .novelty import DiversityOrder
from .strategies import STRATEGIES, check_selection


@dataclass
class MixResult:
    """The mix and its evidence. ``records`` are real rows then the chosen synthetic rows (input order),
    each with ``source``; ``dropped`` are the synthetic rows left out, each with ``reason``."""

    records: list[dict[str, Any]]
    n_real: int
    n_synthetic: int
    synthetic_share: float
    dropped: list[dict[str, Any]]
    cap: float = 0.5
    default_cap: float = 0.5
    allowance: int | None = None
    override_reason: str | None = None
    strategy: str = "random"
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    measured: ShareMeasurement | None = None

    def dropped_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.dropped:
            counts[row["reason"]] = counts.get(row["reason"], 0) + 1
        return counts

    def summary(self) -> dict[str, Any]:
        """Counts, cap, override and warnings: what the manifest, report and dataset card record."""
        return {"n_real": self.n_real, "n_synthetic": self.n_synthetic, "n_records": len(self.records),
                "n_offered": self.n_synthetic + len(self.dropped), "synthetic_share": self.synthetic_share,
                "cap": self.cap, "default_cap": self.default_cap, "allowance": self.allowance,
                "override_reason": self.override_reason, "override": self.cap > self.default_cap,
                "strategy": self.strategy, "dropped": self.dropped_by_reason(), "settings": self.settings,
                "warnings": list(self.warnings), "measured": self.measured.summary() if self.measured else None}


class Mixer:
    """Capped mixing of real and synthetic rows (DESIGN.md §3). Parameters only; ``mix`` does the work.

    ``max_synthetic_share`` None → :func:`.caps.default_cap` of ``depth`` / ``loop_temperature`` /
    ``loop_top_p`` (0.5, 0.3, 0.2); a cap above that default needs ``override_reason``. ``text_field`` is
    the synthetic rows' text column and the mix's; real rows' ``real_text_field`` (default the same) is
    renamed to it. ``diversity_order(texts, k)`` plugs an embedding-based ordering into ``diversity_first``.
    """

    def __init__(self, max_synthetic_share: float | None = None, strategy: str = "random", seed: int = 0,
                 stratify_by: str | None = None, score_field: str | None = None,
                 override_reason: str | None = None, depth: int = 1, loop_temperature: float | None = None, *,
                 loop_top_p: float | None = None, text_field: str = "text", real_text_field: str | None = None,
                 diversity_order: DiversityOrder | None = None, measure: ShareMeasure | None = None):
        self.strategy, self.seed, self.measure = strategy, seed, measure
        self.stratify_by, self.score_field = stratify_by, score_field
        self.override_reason = override_reason.strip() if override_reason and override_reason.strip() else None
        self.depth, self.loop_temperature, self.loop_top_p = depth, loop_temperature, loop_top_p
        self.text_field, self.real_text_field = text_field, real_text_field or text_field
        self.diversity_order = diversity_order
        self.default_cap = default_cap(depth, loop_temperature, loop_top_p)
        self.cap = resolve_cap(max_synthetic_share, self.default_cap, self.override_reason)
        self._check_strategy()

    def _check_strategy(self) -> None:
        if self.strategy not in STRATEGIES:
            raise MixError(f"unknown mix strategy {self.strategy!r}", hint=f"use one of {', '.join(STRATEGIES)}")
        if self.strategy == "stratified" and not self.stratify_by:
            raise MixError("strategy 'stratified' needs mix.stratify_by", hint="e.g. stratify_by = 'seed_topic'")
        if self.strategy == "best_score" and not self.score_field:
            raise MixError("strategy 'best_score' needs mix.score_field", hint="e.g. score_field = 'judge'")

    def settings(self) -> dict[str, Any]:
        return {"seed": self.seed, "stratify_by": self.stratify_by,
                "score_field": self.score_field, "depth": self.depth, "loop_temperature": self.loop_temperature,
                "loop_top_p": self.loop_top_p, "text_field": self.text_field,
                "real_text_field": self.real_text_field,
                "measure": None if self.measure is None else asdict(self.measure)}

    def mix(self, real_rows: Iterable[dict[str, Any]], synthetic_rows: Iterable[dict[str, Any]],
            validation_rows: Iterable[dict[str, Any]] | None = None,
            progress: Callable[[str], None] | None = None) -> MixResult:
        """Keep every real row, add the synthetic rows the cap allows, return the rest as ``dropped``.
        ``validation_rows`` (real text the generator never saw) are only measured on, with ``measure``;
        ``progress`` gets a line per step of that measurement (it takes seconds to a minute)."""
        real, carried = self._real_records(list(real_rows))
        synthetic = carried + list(synthetic_rows)
        check_text_field(synthetic, self.text_field, "synthetic")
        allowance = self._allowance(len(real), len(synthetic))
        real_values = [row.get(self.text_field) for row in real]
        real_texts = [real_text(value) for value in real_values]
        eligible, offered, dropped = self._eligible(synthetic, real_texts)
        texts = MixTexts(offered, [t for t in real_texts if t is not None])
        order = self._choose(eligible, allowance, texts)
        within_cap = set(order)
        dropped += [with_reason(row, OVER_MIX_CAP) for i, row in enumerate(eligible) if i not in within_cap]
        kept, measured = len(order), None
        if self.measure is not None and order:
            kept, measured = self._measured([eligible[i] for i in order], texts.real, len(real), validation_rows,
                                            progress)
            dropped += [with_reason(eligible[i], OVER_MEASURED_SHARE) for i in order[kept:]]
        chosen = set(order[:kept])
        picked = [row for i, row in enumerate(eligible) if i in chosen]
        records = real + label_rows(picked, SOURCE_SYNTHETIC)
        share = len(picked) / len(records) if records else 0.0
        result = MixResult(records, len(real), len(picked), share, label_rows(dropped, SOURCE_SYNTHETIC),
                           self.cap, self.default_cap, allowance, self.override_reason, self.strategy,
                           self.settings())
        result.measured = measured
        result.warnings = self._warnings(result, carried=len(carried)) + self._real_text_notes(real_values)
        return result

    def _measured(self, ordered: list[dict[str, Any]], texts: list[str], n_real: int,
                  validation_rows: Iterable[dict[str, Any]] | None, progress: Callable[[str], None] | None
                  ) -> tuple[int, ShareMeasurement]:
        """``(k, measurement)``: how many of the chosen rows, in the strategy's order, the measured share
        keeps (a smaller share keeps what the strategy prefers). ``texts``: the real rows' texts; ``n_real``
        real rows (with or without text) carry the share."""
        fit, held, source = split_for_measure(texts, self._validation_texts(validation_rows), self.measure, self.seed)
        offered = [mix_text(row.get(self.text_field)) for row in ordered]
        measured = measure_share(fit, held, offered, self.measure, self.seed, source, n_real, progress)
        measured.long_rows = long_rows_note(texts, offered)
        if measured.share >= measured.offered_share:
            return len(ordered), measured
        return rows_at_share(n_real, len(ordered), measured.share), measured

    def _validation_texts(self, rows: Iterable[dict[str, Any]] | None) -> list[str] | None:
        """The texts of the validation rows (their column is the real rows' text field), or None."""
        if rows is None:
            return None
        rows = list(rows)
        if rows and not any(self.real_text_field in row for row in rows):
            raise MixError(f"the {VALIDATION_KEY} rows have no {self.real_text_field!r} column (columns are: "
                           f"{', '.join(columns(rows)) or 'none'})",
                           hint=f"validation rows need the real rows' text column {self.real_text_field!r} "
                                "(mix.text_field)")
        return real_texts_of(rows, self.real_text_field)

    def _real_records(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(real, carried)``: the real rows labelled ``source = real``, and the rows of the real input
        already tagged ``source = synthetic`` (the real input is an earlier mix). Those are synthetic data
        however they arrive: they are offered with the synthetic rows, ahead of them, and count toward the
        cap, so a mix of a mix never holds more than the cap; any left out come back in ``dropped``."""
        check_text_field(rows, self.real_text_field, "real")
        if self.real_text_field != self.text_field:
            rows = [_renamed(row, self.real_text_field, self.text_field) for row in rows]
        carried = [row for row in rows if row.get("source") == SOURCE_SYNTHETIC]
        real = [row for row in rows if row.get("source") != SOURCE_SYNTHETIC] if carried else rows
        return label_rows(real, SOURCE_REAL), carried

    def _allowance(self, n_real: int, n_offered: int) -> int | None:
        allowance = synthetic_allowance(n_real, self.cap)
        if n_real == 0 and allowance == 0:
            raise MixError(
                f"the real data has no rows, so a synthetic-share cap of {self.cap} admits no synthetic row "
                f"({n_offered} offered): real data is kept and accumulated, never replaced",
                hint=f"check the real source path and its text field; to ship synthetic data alone set "
                     f"{CAP_KEY} = 1 with {OVERRIDE_KEY}")
        return allowance

    def _eligible(self, synthetic: list[dict[str, Any]], real_texts: list[str | None]):
        """Synthetic rows with a usable text not already in the mix, and their texts; the others dropped
        with a reason (``missing_text`` / ``invalid_text`` as ``synthgen dedup`` says, ``duplicate_in_mix``)."""
        seen = set(real_texts)
        eligible, offered, dropped = [], [], []
        for row in synthetic:
            text = mix_text(row.get(self.text_field))
            if text is None:
                dropped.append(with_reason(row, _textless_reason(row.get(self.text_field))))
            elif text in seen:
                dropped.append(with_reason(row, DUPLICATE_IN_MIX))
            else:
                seen.add(text)
                eligible.append(row)
                offered.append(text)
        return eligible, offered, dropped

    def _choose(self, eligible: list[dict[str, Any]], allowance: int | None, texts: MixTexts) -> list[int]:
        """The chosen positions in the strategy's order (preferred first). When every row fits, the order
        matters only to a share measurement, which keeps a prefix of it."""
        k = len(eligible) if allowance is None else min(allowance, len(eligible))
        if eligible:
            if self.strategy == "stratified":
                require_field(eligible, self.stratify_by, "mix.stratify_by")
            if self.strategy == "best_score":
                require_field(eligible, self.score_field, "mix.score_field", scores=True)
        if k == len(eligible) and self.measure is None:
            return list(range(k))
        picked = STRATEGIES[self.strategy](eligible, k, self, texts)
        return check_selection(list(picked), len(eligible), k, self.strategy)

    def _warnings(self, result: MixResult, carried: int = 0) -> list[str]:
        notes = []
        if carried:
            notes.append(f"{carried} rows of the real data are tagged source='synthetic' (an earlier mix?): they "
                         "count as synthetic toward the cap, not as real")
        if result.measured is not None:
            notes += self._measure_notes(result)
        over = result.dropped_by_reason().get(OVER_MIX_CAP, 0)
        cut = result.measured is not None and result.measured.share < result.measured.offered_share
        if over:
            notes.append(f"the real data ({result.n_real} rows) can carry at most {result.allowance} synthetic "
                         f"rows at a {self.cap} share: {over} synthetic rows left out ({OVER_MIX_CAP})"
                         + ("" if cut else "; add real data to use more of them"))
        return notes

    def _measure_notes(self, result: MixResult) -> list[str]:
        m, notes = result.measured, []
        if m.share < m.offered_share:
            notes.append(f"measured share limit {m.share:.3f} (offered {m.offered_share:.3f}): above it the held-out real "
                         f"text's perplexity rose by more than {percent(m.max_perplexity_rise)}; "
                         f"{result.dropped_by_reason().get(OVER_MEASURED_SHARE, 0)} synthetic rows left out "
                         f"({OVER_MEASURED_SHARE})")
        if m.probes and m.probes[0][1] < 1:
            notes.append(f"the synthetic rows made the held-out real text more likely than the real rows alone "
                         f"(perplexity x{m.probes[0][1]:.3f} at share {m.probes[0][0]:.3f}): either they add what the "
                         "real data lacks, or the generator saw that text (its training data, seeds or few-shot "
                         "examples) and no harm could be measured; if so, give real rows it never saw as "
                         f"{VALIDATION_KEY}")
        if m.copies:
            rows = "1 synthetic row copies" if m.copies == 1 else f"{m.copies} synthetic rows copy"
            notes.append(f"{rows} a held-out real text: left out of the measurement (they would make the share look "
                         "safer); the generator may have seen the held-out text")
        return notes + ([m.long_rows] if m.long_rows else [])

    def _real_text_notes(self, values: list[Any]) -> list[str]:
        """What happened to real rows without a text string: kept as given, like every real row. A value
        with no text is kept without text; any other non-string (5) is compared and written as its JSON text."""
        notes, field = [], self.real_text_field
        blank = sum(real_text(value) is None for value in values)
        if blank:
            notes.append(f"{blank} real rows have no text in {field!r} (absent, null, NaN or blank); kept anyway "
                         "without text (real data is never dropped)")
        odd = [value for value in values if is_non_text(value) and real_text(value) is not None]
        if odd:
            notes.append(f"{len(odd)} real rows hold a non-string value in {field!r} (e.g. {odd[0]!r}); kept, and "
                         f"compared and written as its JSON text (e.g. {written_text(odd[0])!r})")
        return notes


def _textless_reason(value: Any) -> str:
    """Why a synthetic row whose text value holds no text (:func:`.base.mix_text` is None) is dropped, in
    ``synthgen dedup``'s words: ``invalid_text`` for a value of another type (7, ``{"a": 1}``),
    ``missing_text`` for none at all (absent, null, blank, a conversation without text; NaN too, which is
    how tables spell a missing value)."""
    if is_non_text(value) and not (isinstance(value, float) and math.isnan(value)):
        return INVALID_TEXT
    return MISSING_TEXT


def _renamed(row: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    if new in row:
        raise MixError(f"real rows have both {old!r} and {new!r}: renaming {old!r} would overwrite {new!r}",
                       hint=f"use the real text field {new!r}, or drop that column from the real data")
    return {(new if key == old else key): value for key, value in row.items()}
