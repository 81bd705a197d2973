"""Evaluation cells that are also corpus cells, found without loading the corpus.

Public corpora routinely contain the evaluation studies (Census releases hold most CELLxGENE datasets), and the
larger the subset the more evaluation cells it holds, which biases exactly the curve being measured. Two tests:

- identity of the raw count vector on the genes both sides share: every cell's nonzero ``(gene, value)`` pairs
  are hashed into two order-independent 64-bit sums (splitmix64 of ``gene << 32 | float32 bits``), computed for
  the corpus chunk by chunk over the store (one pass, memory of one chunk) and for the evaluation cells in
  memory. Cells with fewer than ``MIN_NONZERO`` shared nonzero genes are not matched (too little to identify);
- ``(dataset id, soma_joinid)`` where both sides carry them (a Census-derived corpus and evaluation file).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

MIN_NONZERO = 5
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        z = z + np.uint64(salt)
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def row_hashes(X: sp.csr_matrix, shared: np.ndarray) -> np.ndarray:
    """``(n_rows, 2)`` uint64 hashes of each row's counts on the columns where ``shared`` (bool, n_cols) holds;
    rows with fewer than :data:`MIN_NONZERO` shared nonzeros get ``(0, 0)`` (never matched)."""
    X = sp.csr_matrix(X)
    keep = shared[X.indices] & (X.data != 0)
    row = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[keep]
    cols = X.indices[keep].astype(np.uint64)
    vals = np.ascontiguousarray(X.data[keep], dtype=np.float32).view(np.uint32).astype(np.uint64)
    key = (cols << np.uint64(32)) | vals
    out = np.zeros((X.shape[0], 2), dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.add.at(out[:, 0], row, _mix(key, 1))
        np.add.at(out[:, 1], row, _mix(key, 2))
    nnz = np.bincount(row, minlength=X.shape[0])
    out[nnz < MIN_NONZERO] = 0
    return out


def _as_keys(h: np.ndarray) -> np.ndarray:
    return h[:, 0] ^ _mix(h[:, 1], 3)


@dataclass(frozen=True)
class Overlap:
    """Evaluation cells found in the corpus: ``eval_rows`` (positions in the evaluation file's kept cells),
    ``corpus_rows`` (sorted store rows holding them), and how each was found."""

    eval_rows: np.ndarray
    corpus_rows: np.ndarray
    by_counts: int
    by_id: int

    @property
    def n_cells(self) -> int:
        return int(len(self.eval_rows))


ID_PAIRS = (("dataset", "dataset_id", "soma_joinid"),)    # (corpus dataset column, eval dataset column, cell id)


def _id_keys(obs: pd.DataFrame, dataset_col: str, id_col: str) -> pd.Index | None:
    if dataset_col not in obs.columns or id_col not in obs.columns:
        return None
    return pd.Index(obs[dataset_col].astype(str) + "\x1f" + obs[id_col].astype(str))


def find_overlap(store, eval_counts: sp.csr_matrix, shared: np.ndarray, *, eval_obs: pd.DataFrame | None = None,
                 chunk_size: int = 50_000) -> Overlap:
    """Evaluation cells (``eval_counts``: cells x corpus vocabulary, raw counts mapped onto it; ``shared``: the
    vocabulary columns the evaluation file has) that are corpus cells, by count-vector identity on the shared
    genes (one streamed pass over ``store``) and by ``(dataset id, soma_joinid)`` where both obs carry them."""
    eh = row_hashes(eval_counts, shared)
    valid = eh.any(1)
    keys = _as_keys(eh)
    lookup = pd.Index(keys[valid])
    hit_eval = np.zeros(eval_counts.shape[0], bool)
    corpus_hits: list[np.ndarray] = []
    if valid.any():
        for rows, chunk in store.iter_rows(chunk_size=chunk_size):
            ch = row_hashes(chunk, shared)
            ck = _as_keys(ch)
            found = ch.any(1) & pd.Index(ck).isin(lookup)
            if found.any():
                corpus_hits.append(rows[found])
                hit_eval |= valid & pd.Index(keys).isin(ck[found])
    by_counts = int(hit_eval.sum())
    by_id = 0
    if eval_obs is not None:
        for corpus_col, eval_col, id_col in ID_PAIRS:
            ck = _id_keys(store.obs, corpus_col, id_col)
            ek = _id_keys(eval_obs, eval_col, id_col)
            if ck is None or ek is None:
                continue
            e_hit = ek.isin(ck)
            by_id += int((e_hit & ~hit_eval).sum())
            hit_eval |= e_hit
            corpus_hits.append(np.flatnonzero(ck.isin(ek[e_hit])))
    corpus_rows = np.unique(np.concatenate(corpus_hits)) if corpus_hits else np.zeros(0, np.int64)
    return Overlap(np.flatnonzero(hit_eval), corpus_rows.astype(np.int64), by_counts, by_id)
