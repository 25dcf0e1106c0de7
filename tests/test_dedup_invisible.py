"""Dedup ignores invisible format characters: scraped copies of one text differ in soft hyphens, zero-width
spaces and byte-order marks, and each one split a word in two for the shingles."""

from __future__ import annotations

import unicodedata

from synthgen.dedup import DedupParams, Deduplicator, normalize_text, tokenize
from synthgen.invisible import FORMAT_CHARS
from synthgen.dedup.table import dedup_rows

PARAGRAPH = ("La coopération internationale a permis de réduire considérablement la pauvreté dans plusieurs "
             "régions du monde, même si les inégalités entre les pays restent très importantes aujourd'hui et "
             "que les économistes débattent encore des meilleures politiques à mener pour les années à venir.")


def hyphenated(text: str, mark: str = "\u00ad") -> str:
    """``text`` with ``mark`` inside every word of more than six letters (as a typesetter's soft hyphens)."""
    return " ".join(w[:3] + mark + w[3:] if len(w) > 6 else w for w in text.split())


def test_every_format_character_is_removed():
    missing = [hex(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf" and not FORMAT_CHARS.match(chr(c))]
    assert missing == []


def test_copies_differing_in_invisible_characters_are_exact_duplicates():
    copies = [PARAGRAPH, hyphenated(PARAGRAPH), hyphenated(PARAGRAPH, "\u200b"), "\ufeff" + PARAGRAPH,
              hyphenated(PARAGRAPH, "\u2060")]
    assert len({normalize_text(text) for text in copies}) == 1
    rows = [{"id": f"r{i}", "text": text} for i, text in enumerate(copies)]
    result = dedup_rows(rows, Deduplicator(DedupParams()))
    assert [row["id"] for row in result.kept] == ["r0"]
    assert {row["dedup_reason"] for row in result.rejected} == {"exact_duplicate"}


def test_soft_hyphens_no_longer_split_words_into_shingles():
    assert tokenize(hyphenated(PARAGRAPH)) == tokenize(PARAGRAPH)
    edited = PARAGRAPH.replace("considérablement", "nettement")
    rows = [{"id": "clean", "text": edited}, {"id": "scraped", "text": hyphenated(PARAGRAPH)}]
    result = dedup_rows(rows, Deduplicator(DedupParams(ngram=3)))
    assert [row["id"] for row in result.kept] == ["clean"]
    assert [row["dedup_reason"] for row in result.rejected] == ["near_duplicate"]


def test_ascii_and_visible_text_are_unchanged():
    assert normalize_text("  Hello,\tWorld  ") == "hello, world"
    assert normalize_text("Straße ＡＢＣ") == "strasse abc"  # NFKC, then casefold
    assert normalize_text("👩\u200d💻 ok") == "👩💻 ok"  # the joiner goes, the emoji stay


def test_eval_items_too_short_to_check_are_named_by_the_command(tmp_path):
    """An eval set of short answers was left out of decontamination without a word."""
    import json

    from click.testing import CliRunner

    from synthgen.dedup.cli import dedup_command

    source, evals = tmp_path / "in.jsonl", tmp_path / "eval.jsonl"
    source.write_text("".join(json.dumps({"id": f"r{i}", "text": f"{PARAGRAPH} {i}"}) + "\n" for i in range(3)))
    items = ["Paris", "yes", "the capital of France is Paris", PARAGRAPH[:60]]
    evals.write_text("".join(json.dumps({"text": t}) + "\n" for t in items))
    result = CliRunner().invoke(dedup_command, [str(source), "--out", str(tmp_path / "o"), "--eval", str(evals)])
    assert result.exit_code == 0, result.output
    assert "--eval: 3 items shorter than 8 words not checked" in result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["settings"]["decontam"]["skipped_short"] == 3
