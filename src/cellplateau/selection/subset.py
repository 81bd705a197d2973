"""A subset on disk: a sorted index array, a seeded train/val split, and a manifest.

Never a copy of the matrix. Layout of a subset folder::

    indices.npy     int64 (n,)  sorted corpus rows
    is_val.npy      bool  (n,)  True for validation cells (seeded split inside the subset)
    manifest.json   strategy, its config, fraction, n, replicate, seed, corpus fingerprint,
                    content hash of the indices, split seed and sizes
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellplateau._hashing import array_hash
from cellplateau._io import atomic_dir, atomic_write_json, read_json


def subset_size(n_cells: int, fraction: float) -> int:
    """Cells in a subset of ``fraction`` of the corpus: ``round(N * f)``, at least 1."""
    return max(1, min(n_cells, int(round(n_cells * fraction))))


def n_validation(n: int, val_fraction: float) -> int:
    """Validation cells of an ``n``-cell subset: ``round(n * val_fraction)``, at least 1 and at most n - 1 if n >= 2."""
    n_val = int(round(n * val_fraction))
    if n >= 2 and val_fraction > 0:
        n_val = min(max(n_val, 1), n - 1)
    return n_val


def split_train_val(n: int, val_fraction: float, *, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask (n,) with :func:`n_validation` validation cells."""
    n_val = n_validation(n, val_fraction)
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=n_val, replace=False)] = True
    return mask


@dataclass(frozen=True)
class Subset:
    path: Path
    indices: np.ndarray
    is_val: np.ndarray
    manifest: dict

    @property
    def train(self) -> np.ndarray:
        return self.indices[~self.is_val]

    @property
    def val(self) -> np.ndarray:
        return self.indices[self.is_val]

    @property
    def content_hash(self) -> str:
        return self.manifest["content_hash"]


def write_subset(path: Path, indices: np.ndarray, is_val: np.ndarray, manifest: dict) -> Subset:
    indices = np.asarray(indices, dtype=np.int64)
    if np.any(np.diff(indices) <= 0):
        raise ValueError("subset indices must be strictly increasing")
    manifest = {**manifest, "n": int(len(indices)), "n_val": int(is_val.sum()),
                "content_hash": array_hash(indices)}

    with atomic_dir(path) as tmp:
        np.save(tmp / "indices.npy", indices)
        np.save(tmp / "is_val.npy", is_val)
        atomic_write_json(tmp / "manifest.json", manifest)
    return Subset(path, indices, is_val, manifest)


def load_subset(path: Path) -> Subset:
    path = Path(path)
    manifest = read_json(path / "manifest.json")
    indices = np.load(path / "indices.npy")
    if array_hash(indices) != manifest["content_hash"]:
        raise ValueError(f"{path}: indices do not match the manifest's content hash")
    return Subset(path, indices, np.load(path / "is_val.npy"), manifest)
