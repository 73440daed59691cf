"""Feature extraction in batches over worker processes, with an on-disk cache.

A comparison pays for each feature set once: ``extract_features`` splits the images into batches, runs an
extractor (``features.py``) on them in ``n_jobs`` processes, and keeps the result as a ``.npy`` file whose
name hashes the extractor's settings, ``FEATURE_VERSION`` and the images themselves.

Typical use:

    features = extract_features(HogFeatures(), train_images, cache=True, cache_name="mnist")
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed

from ..data.images import cache_dir
from ..io import atomic_write_bytes, atomic_write_json
from .features import FEATURE_VERSION, RawPixels, as_image_batch


def default_cache_dir() -> Path:
    """The user cache for features: $XDG_CACHE_HOME/synbiolab/features, else ~/.cache/synbiolab/features."""
    return cache_dir() / "features"


@dataclass
class FeatureCache:
    """Feature arrays on disk, one `.npy` per (data set, extractor settings, image content).

    The key hashes the images themselves, so two subsets of a data set never share a file by mistake,
    and a changed extractor setting or FEATURE_VERSION misses the cache instead of returning stale data.

    Args:
        root: folder of the cache; None uses `default_cache_dir()`.
    """

    root: Path | None = None
    hits: int = field(default=0, init=False)
    misses: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root) if self.root is not None else default_cache_dir()

    def path_for(self, dataset_name: str, extractor: Any, images: np.ndarray) -> Path:
        """Where the features of `images` by `extractor` are (or would be) stored."""
        digest = hashlib.blake2b(digest_size=16)
        digest.update(json.dumps(
            {"version": FEATURE_VERSION, "settings": extractor.settings(), "shape": list(images.shape)},
            sort_keys=True,
        ).encode())
        digest.update(np.ascontiguousarray(images, dtype=np.float32).tobytes())
        safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset_name) or "data"
        return self.root / safe_name / f"{extractor.name}-{digest.hexdigest()}.npy"

    def load(self, path: Path) -> np.ndarray | None:
        """The stored array, or None when absent or unreadable (then it is recomputed)."""
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None

    def save(self, path: Path, features: np.ndarray, settings: dict) -> None:
        """Store atomically: a killed process never leaves a half-written file that a later run trusts."""
        buffer = io.BytesIO()
        np.save(buffer, features, allow_pickle=False)
        atomic_write_bytes(path, buffer.getvalue())
        atomic_write_json(path.with_suffix(".json"), {"settings": settings, "shape": list(features.shape)})


def extract_features(
    extractor: Any,
    images: Any,
    *,
    n_jobs: int = 2,
    batch_size: int = 2500,
    cache: bool | str | Path | FeatureCache | None = None,
    cache_name: str = "data",
) -> np.ndarray:
    """Features of every image, computed in batches over `n_jobs` worker processes.

    Args:
        extractor: an extractor (RawPixels, HogFeatures, DaisyFeatures or one with the same methods).
        images: `(N, H, W)` or `(N, 1, H, W)`, values in 0..1 (array or tensor).
        n_jobs: worker processes; 1 computes in this process.
        batch_size: images per task; large enough that process overhead stays small.
        cache: None/False for no cache, True for the user cache, a folder, or a FeatureCache.
        cache_name: data set name, the cache's first-level folder.

    Returns:
        float32 array `(N, extractor.output_dim((H, W)))`.
    """
    batch = as_image_batch(images)
    extractor.output_dim(batch.shape[1:])  # fail early, with the setting to change, on too-small images
    store = _as_cache(cache)
    path = store.path_for(cache_name, extractor, batch) if store is not None else None
    if path is not None:
        cached = store.load(path)
        if cached is not None and cached.shape[0] == len(batch):
            store.hits += 1
            return cached
        store.misses += 1

    starts = range(0, len(batch), batch_size)
    if n_jobs == 1 or len(starts) <= 1 or isinstance(extractor, RawPixels):
        parts = [extractor.transform_batch(batch[start : start + batch_size]) for start in starts]
    else:
        parts = Parallel(n_jobs=n_jobs)(
            delayed(extractor.transform_batch)(batch[start : start + batch_size]) for start in starts
        )
    features = np.concatenate(parts) if parts else np.zeros((0, extractor.output_dim(batch.shape[1:])))
    features = features.astype(np.float32, copy=False)
    if path is not None:
        store.save(path, features, extractor.settings())
    return features


def _as_cache(cache: bool | str | Path | FeatureCache | None) -> FeatureCache | None:
    if cache is None or cache is False:
        return None
    if cache is True:
        return FeatureCache()
    if isinstance(cache, FeatureCache):
        return cache
    return FeatureCache(Path(cache))
