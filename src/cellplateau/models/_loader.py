"""Shuffled mini-batches of a subset's counts streamed from the store, memory bounded by the batch.

Block shuffling (the technique behind scDataset and annbatch): the sorted subset is cut into blocks of
``block_size`` neighbouring rows, the block order is shuffled, and each window of ``fetch_blocks`` blocks is
shuffled cell by cell in memory before it is cut into batches. Each batch therefore reads a few short,
near-sequential runs of the memory-mapped store instead of ``batch_size`` random rows; ``block_size`` trades read
locality against mixing (:func:`mixing_report` measures it as the entropy of a label per batch, compared with a
full random shuffle). Rows are read by a compiled kernel straight into the batch (dense) or as CSR, in a
background thread that prefetches ``prefetch`` batches while the model computes.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Literal

import numpy as np
import scipy.sparse as sp

from cellplateau.corpus.store import CorpusStore

RELEASE_EVERY = 64      # batches between releases of the store pages this process has mapped


def shuffled_order(rows: np.ndarray, *, rng: np.random.Generator, block_size: int,
                   fetch_blocks: int = 1) -> np.ndarray:
    """One epoch's order of ``rows``: blocks of ``block_size`` neighbours in random order, then cells shuffled
    within each window of ``fetch_blocks`` consecutive blocks. A permutation of ``rows``."""
    rows = np.asarray(rows)
    if len(rows) == 0:
        return rows
    n_blocks = -(-len(rows) // block_size)
    starts = rng.permutation(n_blocks) * block_size
    lens = np.minimum(starts + block_size, len(rows)) - starts
    offsets = np.zeros(n_blocks, dtype=np.int64)
    np.cumsum(lens[:-1], out=offsets[1:])
    pos = np.repeat(starts - offsets, lens) + np.arange(len(rows))
    order = rows[pos]
    fetch = block_size * fetch_blocks
    if fetch_blocks > 1 or block_size > 1:
        for s in range(0, len(order), fetch):
            window = order[s : s + fetch]
            order[s : s + fetch] = window[rng.permutation(len(window))]
    return order


def batch_label_entropy(order: np.ndarray, labels: np.ndarray, batch_size: int) -> float:
    """Mean Shannon entropy (bits) of ``labels[order]`` over the full batches of ``order``."""
    codes = np.unique(np.asarray(labels), return_inverse=True)[1].ravel()[np.asarray(order)]
    n_full = len(codes) // batch_size
    if n_full == 0:
        raise ValueError(f"fewer cells ({len(codes)}) than one batch ({batch_size})")
    k = int(codes.max()) + 1
    batch = np.repeat(np.arange(n_full), batch_size)
    counts = np.bincount(batch * k + codes[: n_full * batch_size], minlength=n_full * k).reshape(n_full, k)
    p = counts / batch_size
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(1)
    return float(h.mean())


def mixing_report(rows: np.ndarray, labels: np.ndarray, *, batch_size: int, block_size: int, fetch_blocks: int,
                  rng: np.random.Generator) -> dict[str, float]:
    """Batch mixing of block shuffling vs a full random shuffle: mean per-batch entropy of ``labels`` (the
    store-wide label of each row, e.g. the dataset) and their ratio (1 = as mixed as a random shuffle)."""
    labels = np.asarray(labels)[np.asarray(rows)]
    local = np.arange(len(rows))
    ours = batch_label_entropy(shuffled_order(local, rng=rng, block_size=block_size, fetch_blocks=fetch_blocks),
                               labels, batch_size)
    rand = batch_label_entropy(rng.permutation(local), labels, batch_size)
    return {"entropy_block": ours, "entropy_random": rand, "ratio": ours / rand if rand > 0 else 1.0}


class BatchStream:
    """Endless stream of ``(batch_rows, counts)``; ``wait_s`` counts time spent waiting for data.

    ``counts`` is CSR (``layout="csr"``) or a dense float32 array (``layout="dense"``), ``(len(batch_rows),
    n_genes)``. Every batch has exactly ``batch_size`` cells (cells left over at the end of an epoch start the
    next one), unless the whole set is smaller than a batch, in which case each batch is the set. Each epoch
    visits every row exactly once; the order depends only on ``rng``.
    """

    def __init__(self, store: CorpusStore, rows: np.ndarray, *, batch_size: int, rng: np.random.Generator,
                 block_size: int = 64, fetch_blocks: int = 64, prefetch: int = 4,
                 layout: Literal["csr", "dense"] = "csr"):
        if len(rows) == 0:
            raise ValueError("cannot stream batches from an empty set of rows")
        if layout not in ("csr", "dense"):
            raise ValueError(f"layout must be 'csr' or 'dense', got {layout!r}")
        self.store = store
        self.rows = np.asarray(rows, dtype=np.int64)
        self.batch_size = batch_size
        self.rng = rng
        self.block_size = block_size
        self.fetch_blocks = fetch_blocks
        self.layout = layout
        self.wait_s = 0.0
        self.epochs = 0.0
        self._q: queue.Queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, daemon=True)
        self._thread.start()

    def _read(self, rows: np.ndarray):
        if self.layout == "dense":
            if hasattr(self.store, "read_dense"):       # a view that transforms rows (depth thinning)
                return self.store.read_dense(rows)
            from cellplateau.corpus._densify import read_dense

            return read_dense(self.store, rows)
        return self.store.read_rows(rows)

    def _batches(self) -> Iterator[np.ndarray]:
        """Row indices of successive batches, epochs back to back."""
        if len(self.rows) < self.batch_size:    # the whole set is smaller than a batch
            while True:
                yield shuffled_order(self.rows, rng=self.rng, block_size=self.block_size,
                                     fetch_blocks=self.fetch_blocks)
        carry = self.rows[:0]
        while True:
            order = shuffled_order(self.rows, rng=self.rng, block_size=self.block_size,
                                   fetch_blocks=self.fetch_blocks)
            if len(carry):
                order = np.concatenate([carry, order])
            full = (len(order) // self.batch_size) * self.batch_size
            for b in range(0, full, self.batch_size):
                yield order[b : b + self.batch_size]
            carry = order[full:]

    def _produce(self) -> None:
        try:
            for i, rows in enumerate(self._batches()):
                if self._stop.is_set() or not self._put((rows, self._read(rows))):
                    return
                if i % RELEASE_EVERY == RELEASE_EVERY - 1:      # resident memory bounded by recent batches
                    self.store.release_pages()
        except BaseException as exc:  # surface loader errors in the consumer
            self._q.put(exc)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[tuple[np.ndarray, sp.csr_matrix | np.ndarray]]:
        return self

    def __next__(self) -> tuple[np.ndarray, sp.csr_matrix | np.ndarray]:
        t0 = time.perf_counter()
        item = self._q.get()
        self.wait_s += time.perf_counter() - t0
        if isinstance(item, BaseException):
            raise item
        self.epochs += len(item[0]) / len(self.rows)
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> BatchStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
