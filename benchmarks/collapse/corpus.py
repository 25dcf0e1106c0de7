"""Real-text corpora for module C: CPython's ``pydoc_data.topics`` (quick) and Debian's ``fortunes`` (full).

Documents are tokenized like synthgen's lexical metrics (casefolded ``\\w+`` runs and single punctuation
marks), kept when they have 5–80 tokens, exact-deduplicated, shuffled with a fixed seed and split into
train and test. Every text the benchmark hands to synthgen is its tokens joined by single spaces, so the
real reference and the synthetic batches are tokenized identically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthgen.diversity.lexical import tokenize

EOS, BOS = 0, 1
FORTUNES_DIR = Path("/usr/share/games/fortunes")
FORTUNES_HINT = ("install Debian's fortunes package: `apt-get update && apt-get install -y fortunes` (as root), "
                 "or point --fortunes-dir at a folder of fortune files ('%' lines between fortunes)")
_OVERSTRIKE = re.compile(r".\x08")


class CorpusMissing(RuntimeError):
    """The corpus files are not on this machine; ``hint`` says how to get them."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


@dataclass
class Corpus:
    """Token-id documents (``np.int32`` arrays, ids ≥ 2; 0 = end, 1 = start) and their texts."""

    name: str
    vocab: np.ndarray                 # id → token (object array)
    train: list[np.ndarray]
    test: list[np.ndarray]
    budget: int                       # tokens per lexical / tail measurement sample
    train_texts: list[str] = field(default_factory=list)
    validation_texts: list[str] = field(default_factory=list)  # withheld from every model: the gate's alone

    @property
    def size(self) -> int:
        return len(self.vocab)

    def texts(self, docs: list[np.ndarray]) -> list[str]:
        return [" ".join(self.vocab[doc]) for doc in docs]


def pydoc_documents() -> list[str]:
    """Paragraphs of CPython's pydoc topics (ships with every Python; PSF licence)."""
    from pydoc_data.topics import topics

    return [para for text in topics.values() for para in re.split(r"\n\s*\n", text)]


def fortunes_documents(root: Path | None = None) -> list[str]:
    """Every fortune in the plain-text files of ``root`` (the ``.dat`` indexes and ``.u8`` links skipped)."""
    root = Path(root or FORTUNES_DIR)
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.suffix and not p.is_symlink()) \
        if root.is_dir() else []
    if not files:
        raise CorpusMissing(f"no fortune files under {root}", FORTUNES_HINT)
    docs: list[str] = []
    for file in files:
        text = _OVERSTRIKE.sub("", file.read_text(encoding="utf-8", errors="replace"))
        docs += re.split(r"^%\s*$", text, flags=re.M)
    return docs


def token_documents(texts: list[str], min_tokens: int = 5, max_tokens: int = 80) -> list[tuple[str, ...]]:
    """Tokenized documents within the length bounds, exact duplicates removed (first kept)."""
    seen: dict[tuple[str, ...], None] = {}
    for text in texts:
        tokens = tuple(tokenize(text))
        if min_tokens <= len(tokens) <= max_tokens:
            seen.setdefault(tokens, None)
    return list(seen)


def build_corpus(name: str, texts: list[str], n_train: int, n_test: int, budget: int, seed: int = 0,
                 n_validation: int = 0) -> Corpus:
    """Split ``texts`` into ``n_train`` / ``n_test`` documents (fewer when the corpus is smaller: 3:1), plus up
    to ``n_validation`` of the documents left over as validation texts. No model ever trains on those: the
    gated regime measures its synthetic share on them (``mix.measure_share``), which needs real text the
    generator never saw. They stay out of the vocabulary, so train and test are as without them."""
    docs = token_documents(texts)
    order = np.random.default_rng(seed).permutation(len(docs))
    if n_train + n_test > len(docs):
        n_train = len(docs) * 3 // 4
        n_test = len(docs) - n_train
    chosen = [docs[i] for i in order[: n_train + n_test]]
    types = sorted({tok for doc in chosen for tok in doc})
    vocab = np.array(["</s>", "<s>", *types], dtype=object)
    index = {tok: i + 2 for i, tok in enumerate(types)}
    arrays = [np.array([index[tok] for tok in doc], dtype=np.int32) for doc in chosen]
    corpus = Corpus(name, vocab, arrays[:n_train], arrays[n_train:], budget)
    corpus.train_texts = corpus.texts(corpus.train)
    rest = order[n_train + n_test: n_train + n_test + n_validation]
    corpus.validation_texts = [" ".join(docs[i]) for i in rest]
    return corpus


def load_corpus(name: str, fortunes_dir: Path | None = None, n_train: int | None = None,
                n_test: int | None = None, budget: int | None = None) -> Corpus:
    """``pydoc`` (1,200 / 400 docs, 8K-token samples; the 157 left validate) or ``fortunes`` (4,000 / 1,000,
    20K tokens; 2,000 validate)."""
    if name == "pydoc":
        return build_corpus("pydoc", pydoc_documents(), n_train or 1200, n_test or 400, budget or 8000,
                            n_validation=1000)
    if name == "fortunes":
        return build_corpus("fortunes", fortunes_documents(fortunes_dir), n_train or 4000, n_test or 1000,
                            budget or 20000, n_validation=2000)
    raise ValueError(f"unknown corpus {name!r}: use 'pydoc' or 'fortunes'")
