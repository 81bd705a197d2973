"""Gene vocabularies and mapping a dataset's genes onto them (by symbol or Ensembl ID)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")


def looks_like_ensembl(names: pd.Index | list[str]) -> bool:
    """True when most names are Ensembl gene IDs (``ENSG00000141510``, ``ENSMUSG...``)."""
    names = list(names)
    if not names:
        return False
    hits = sum(bool(_ENSEMBL.match(str(n))) for n in names[:2000])
    return hits >= 0.9 * min(len(names), 2000)


def strip_version(ids: pd.Index | list[str]) -> list[str]:
    return [str(i).split(".")[0] if _ENSEMBL.match(str(i)) else str(i) for i in ids]


@dataclass(frozen=True)
class GeneMapping:
    """Where each source gene goes in the vocabulary (``-1`` = not in the vocabulary)."""

    target: np.ndarray          # (n_source_genes,) int64 vocabulary column or -1
    n_vocab: int
    key: str                    # "gene_symbol" or "gene_id"

    @property
    def n_mapped(self) -> int:
        return int((self.target >= 0).sum())

    @property
    def overlap(self) -> float:
        """Share of the vocabulary that the source covers."""
        return self.n_mapped / max(self.n_vocab, 1)

    def apply(self, X: sp.spmatrix) -> sp.csr_matrix:
        """Reorder columns of ``X`` (cells x source genes) onto the vocabulary; missing genes are 0."""
        X = sp.csr_matrix(X)
        keep = np.flatnonzero(self.target >= 0)
        X = X[:, keep]
        sel = sp.csr_matrix((np.ones(len(keep)), (np.arange(len(keep)), self.target[keep])),
                            shape=(len(keep), self.n_vocab))
        out = (X @ sel).tocsr()
        out.sort_indices()
        return out

    def summary(self, name: str) -> str:
        return (f"{name}: {self.n_mapped} of {len(self.target)} genes mapped by {self.key}; "
                f"covers {self.overlap:.1%} of the {self.n_vocab}-gene vocabulary "
                f"({self.n_vocab - self.n_mapped} vocabulary genes are zeros)")


def map_genes(source: pd.Index | list[str], vocab: pd.DataFrame) -> GeneMapping:
    """Map source gene names onto ``vocab`` (columns ``gene_symbol``, ``gene_id``).

    Ensembl IDs (version suffixes ignored) are matched against ``gene_id``, anything else against
    ``gene_symbol``. Duplicated source names map only their first occurrence.
    """
    source = [str(s) for s in source]
    key = "gene_id" if looks_like_ensembl(source) else "gene_symbol"
    vocab_names = strip_version(vocab[key]) if key == "gene_id" else list(vocab[key].astype(str))
    src = strip_version(source) if key == "gene_id" else source
    lookup: dict[str, int] = {}
    for i, name in enumerate(vocab_names):
        lookup.setdefault(name, i)
    target = np.full(len(src), -1, dtype=np.int64)
    seen: set[str] = set()
    for i, name in enumerate(src):
        if name in lookup and name not in seen:
            target[i] = lookup[name]
            seen.add(name)
    return GeneMapping(target, len(vocab), key)
