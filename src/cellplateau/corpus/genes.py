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
    key: str                    # "gene_symbol" or "gene_id", and how many were translated
    n_translated: int = 0       # genes matched through the GENCODE ID <-> symbol table

    @property
    def n_mapped(self) -> int:
        return int((self.target >= 0).sum())

    @property
    def overlap(self) -> float:
        """Share of the vocabulary that the source covers."""
        return self.n_mapped / max(self.n_vocab, 1)

    @property
    def source_overlap(self) -> float:
        """Share of the source's genes that found a vocabulary gene."""
        return self.n_mapped / max(len(self.target), 1)

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


def _lookup(names: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, name in enumerate(names):
        if name and name != "nan":
            out.setdefault(name, i)
    return out


def map_genes(source: pd.Index | list[str], vocab: pd.DataFrame, *, organism: str = "human",
              translate: bool = True) -> GeneMapping:
    """Map source gene names onto ``vocab`` (columns ``gene_symbol`` and/or ``gene_id``).

    Ensembl IDs (version suffixes ignored) are matched against ``gene_id``, anything else against
    ``gene_symbol``. With ``translate``, genes that do not match directly are translated through the
    maintained GENCODE table (:mod:`cellplateau.corpus.gene_table`: ID -> symbol or symbol -> ID) and
    matched against the other column, so an Ensembl-ID dataset maps onto a symbol-only vocabulary and
    vice versa. Duplicated source names, and a second source gene reaching an already-mapped vocabulary
    gene, map nothing (the first occurrence wins).
    """
    source = [str(s) for s in source]
    key = "gene_id" if looks_like_ensembl(source) else "gene_symbol"
    other = "gene_symbol" if key == "gene_id" else "gene_id"
    src = strip_version(source) if key == "gene_id" else source
    target = np.full(len(src), -1, dtype=np.int64)
    taken: set[int] = set()
    if key in vocab.columns:
        names = strip_version(vocab[key].astype(str)) if key == "gene_id" else list(vocab[key].astype(str))
        lookup = _lookup(names)
        for i, name in enumerate(src):
            j = lookup.get(name, -1)
            if j >= 0 and j not in taken:
                target[i] = j
                taken.add(j)
    n_direct = int((target >= 0).sum())
    n_translated = 0
    if translate and other in vocab.columns and n_direct < len(src):
        from cellplateau.corpus.gene_table import GeneTableError, id_to_symbol, symbol_to_id

        try:
            table = id_to_symbol(organism) if key == "gene_id" else symbol_to_id(organism)
        except GeneTableError:
            if n_direct == 0:
                raise
            table = {}
        names = strip_version(vocab[other].astype(str)) if other == "gene_id" else list(vocab[other].astype(str))
        lookup = _lookup(names)
        for i, name in enumerate(src):
            if target[i] >= 0:
                continue
            j = lookup.get(table.get(name, ""), -1)
            if j >= 0 and j not in taken:
                target[i] = j
                taken.add(j)
                n_translated += 1
    label = key if n_translated == 0 else f"{key} (+{n_translated} via the GENCODE {key}->{other} table)"
    return GeneMapping(target, len(vocab), label, n_translated)
