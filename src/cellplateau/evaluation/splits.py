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


def stratified_sample(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of ``n`` cells drawn without replacement, each class in proportion (every class
    keeps at least one cell while ``n`` allows)."""
    labels = np.asarray(labels)
    classes, inv = np.unique(labels, return_inverse=True)
    counts = np.bincount(inv)
    quota = np.maximum(np.floor(counts / counts.sum() * n).astype(int), 1)
    quota = np.minimum(quota, counts)
    while quota.sum() > n:
        quota[np.argmax(quota)] -= 1
    spare = n - quota.sum()
    if spare > 0:   # hand out the remainder at random among cells not taken yet
        room = counts - quota
        extra = rng.multivariate_hypergeometric(room, min(spare, int(room.sum())))
        quota += extra
    picked = [rng.choice(np.flatnonzero(inv == c), size=q, replace=False) for c, q in enumerate(quota) if q]
    return np.sort(np.concatenate(picked))


def stratified_three_way(labels: np.ndarray, fractions: tuple[float, float, float], *, seed: int,
                         min_per_class: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded, stratified ``(train, val, test)`` indices (e.g. 80/10/10).

    Classes with fewer than ``min_per_class`` cells are left out; every kept class puts at least one
    cell in each part. The same labels and seed give the same split.
    """
    labels = np.asarray(labels)
    f_train, f_val, f_test = fractions
    if not np.isclose(f_train + f_val + f_test, 1.0):
        raise ValueError(f"split fractions must sum to 1; got {fractions}")
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n = len(members)
        if n < min_per_class:
            continue
        n_test = min(max(int(round(n * f_test)), 1), n - 2)
        n_val = min(max(int(round(n * f_val)), 1), n - n_test - 1)
        parts[2].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_val])
        parts[0].append(members[n_test + n_val :])
    if not parts[0]:
        raise ValueError(f"no class has the {min_per_class} cells a train/validation/test split needs")
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    return train, val, test
