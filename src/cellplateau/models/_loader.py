"""Shuffled mini-batches of raw counts streamed from the store.

Block shuffling (as scDataset and annbatch do): the sorted row list is cut into blocks of
``block_size`` neighbouring rows, block order is shuffled, ``fetch_blocks`` blocks are read at
once (near-sequential reads) and shuffled in memory before being cut into batches. A background
thread prefetches the next fetch while the model computes on the current one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from cellplateau.corpus.store import CorpusStore


def shuffled_order(rows: np.ndarray, *, rng: np.random.Generator, block_size: int) -> np.ndarray:
    """A block-shuffled permutation of ``rows`` (blocks of neighbours, then cells in a fetch)."""
    rows = np.asarray(rows)
    n_blocks = -(-len(rows) // block_size)
    blocks = rng.permutation(n_blocks)
    return np.concatenate([rows[b * block_size : (b + 1) * block_size] for b in blocks]) if len(rows) else rows


class BatchStream:
    """Endless stream of ``(batch_rows, counts_csr)``; ``wait_s`` counts time spent waiting for data.

    Every batch has exactly ``batch_size`` cells (cells left over at the end of an epoch start the
    next one), unless the whole set is smaller than a batch, in which case each batch is the set.
    """

    def __init__(self, store: CorpusStore, rows: np.ndarray, *, batch_size: int, rng: np.random.Generator,
                 block_size: int = 64, fetch_blocks: int = 16, prefetch: int = 2):
        if len(rows) == 0:
            raise ValueError("cannot stream batches from an empty set of rows")
        self.store = store
        self.rows = np.asarray(rows, dtype=np.int64)
        self.batch_size = batch_size
        self.rng = rng
        self.block_size = block_size
        self.fetch_rows = block_size * fetch_blocks
        self.wait_s = 0.0
        self.epochs = 0.0
        self._q: queue.Queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            pending_rows: list[np.ndarray] = []
            pending: list[sp.csr_matrix] = []
            n_pending = 0
            while not self._stop.is_set():
                order = shuffled_order(self.rows, rng=self.rng, block_size=self.block_size)
                for start in range(0, len(order), self.fetch_rows):
                    fetch = order[start : start + self.fetch_rows]
                    counts = self.store.read_rows(fetch)
                    perm = self.rng.permutation(len(fetch))
                    pending_rows.append(fetch[perm])
                    pending.append(counts[perm])
                    n_pending += len(fetch)
                    if n_pending < self.batch_size:
                        continue
                    rows, mat = np.concatenate(pending_rows), sp.vstack(pending, format="csr")
                    full = (n_pending // self.batch_size) * self.batch_size
                    for b in range(0, full, self.batch_size):
                        if not self._put((rows[b : b + self.batch_size], mat[b : b + self.batch_size])):
                            return
                    pending_rows, pending = [rows[full:]], [mat[full:]]
                    n_pending -= full
                if len(self.rows) < self.batch_size:   # the whole set is smaller than a batch
                    rows, mat = np.concatenate(pending_rows), sp.vstack(pending, format="csr")
                    pending_rows, pending, n_pending = [], [], 0
                    if not self._put((rows, mat)):
                        return
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

    def __iter__(self) -> Iterator[tuple[np.ndarray, sp.csr_matrix]]:
        return self

    def __next__(self) -> tuple[np.ndarray, sp.csr_matrix]:
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
