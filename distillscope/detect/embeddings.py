"""Topic embeddings of sampled prompts with the packaged all-MiniLM-L6-v2, cached on disk by text hash.

Only the distinct sampled prompts are encoded (at most :data:`PER_ACCOUNT` per
account, and only accounts with at least :data:`MIN_PROMPTS` of them), and each
vector is kept in a SQLite cache keyed by the SHA-256 of the text, so a second
run over an overlapping log encodes only what is new. The cache stores vectors,
never text. Gives per account the dispersion (1 - mean pairwise cosine) and the
centroid used for topic similarity between accounts.

This module embeds; it must not score, group or read logs.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import numpy as np

PER_ACCOUNT = 12
MIN_PROMPTS = 4
DIM = 384


def cache_path() -> Path:
    base = Path(os.environ.get("DISTILLSCOPE_CACHE", Path.home() / ".cache" / "distillscope"))
    base.mkdir(parents=True, exist_ok=True)
    return base / "minilm-prompts.sqlite"


def encode_cached(texts: list[str], path: Path | None = None) -> np.ndarray:
    """Unit-normalised MiniLM vectors of the texts (distinct texts encoded once, cached by hash)."""
    keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
    con = sqlite3.connect(str(path or cache_path()))
    try:
        con.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, v BLOB)")
        found: dict[str, np.ndarray] = {}
        unique = sorted(set(keys))
        for i in range(0, len(unique), 500):
            chunk = unique[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in con.execute(f"SELECT key, v FROM vec WHERE key IN ({marks})", chunk):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        if todo:
            from sentence_transformers import SentenceTransformer

            from distillscope.models import embedder_path

            model = SentenceTransformer(str(embedder_path()), device="cpu")
            order = sorted(todo)
            vecs = model.encode(
                [todo[k] for k in order], batch_size=64, normalize_embeddings=True, show_progress_bar=False
            ).astype(np.float32)
            con.executemany(
                "INSERT OR REPLACE INTO vec VALUES (?, ?)",
                [(k, v.tobytes()) for k, v in zip(order, vecs, strict=True)],
            )
            con.commit()
            found.update(zip(order, vecs, strict=True))
    finally:
        con.close()
    return np.stack([found[k] for k in keys]) if keys else np.zeros((0, DIM), dtype=np.float32)


def account_embeddings(samples: dict[str, list[str]]) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Per account: dispersion of its sampled prompts (0..1) and their mean vector."""
    chosen = {
        a: list(dict.fromkeys(t for t in texts if t.strip()))[:PER_ACCOUNT] for a, texts in samples.items()
    }
    chosen = {a: t for a, t in chosen.items() if len(t) >= MIN_PROMPTS}
    flat = [t for texts in chosen.values() for t in texts]
    if not flat:
        return {}, {}
    vecs = encode_cached(flat)
    dispersion, centroid, i = {}, {}, 0
    for a, texts in chosen.items():
        v = vecs[i : i + len(texts)]
        i += len(texts)
        sim = (v @ v.T)[np.triu_indices(len(texts), 1)]
        dispersion[a] = float(1.0 - sim.mean())
        centroid[a] = v.mean(axis=0)
    return dispersion, centroid
