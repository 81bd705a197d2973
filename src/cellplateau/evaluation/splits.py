"""Seeded, stratified train/test splits shared by every model evaluated on a dataset."""

from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, test_fraction: float, *, seed: int,
                     min_per_class: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)``; classes with fewer than ``min_per_class`` cells are left out.

    Each kept class puts ``round(n_c * test_fraction)`` cells (at least 1, at most ``n_c - 1``) in
    test, chosen by a generator seeded with ``seed``. The same labels and seed give the same split.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        if len(members) < min_per_class:
            continue
        members = rng.permutation(members)
        n_test = min(max(int(round(len(members) * test_fraction)), 1), len(members) - 1)
        test.append(members[:n_test])
        train.append(members[n_test:])
    if not train:
        raise ValueError("no class has enough cells for a stratified split")
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
