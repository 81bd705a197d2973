"""``cellplateau combine``: one store from several stores on the same gene vocabulary, e.g. scTab and a
Perturb-seq screen ingested with ``--vocabulary`` of the scTab store, for the spike-in experiment (its
``source`` filter then names the screen's cells by their ``dataset`` column).

Rows are copied ``chunk_size`` at a time (memory is one chunk); obs columns are the union of the inputs'
(``unknown`` where an input lacks one), plus ``store`` naming the input each cell came from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cellplateau.corpus.ingest import MISSING, IngestError, IngestReport, finish_report
from cellplateau.corpus.store import CorpusStore, StoreError, StoreWriter


def combine_stores(out: str | os.PathLike, stores: Sequence[str | os.PathLike], *, chunk_size: int = 100_000,
                   log: Callable[[str], None] | None = None) -> IngestReport:
    if len(stores) < 2:
        raise IngestError("combine needs at least two stores")
    try:
        opened = [CorpusStore(s) for s in stores]
    except StoreError as exc:
        raise IngestError(str(exc)) from None
    var = opened[0].var
    for s in opened[1:]:
        if not s.var.reset_index(drop=True).equals(var.reset_index(drop=True)):
            raise IngestError(f"{s.path}: its gene vocabulary differs from {opened[0].path}'s ({s.n_genes} vs "
                              f"{opened[0].n_genes} genes); ingest it with --vocabulary {opened[0].path}")
    columns = list(dict.fromkeys(c for s in opened for c in s.obs.columns))
    lines = []
    with StoreWriter(out, var, data_dtype="int32",
                     provenance={"combined_from": [str(s.path) for s in opened],
                                 "fingerprints": [s.fingerprint for s in opened]}) as w:
        for s in opened:
            obs = s.obs
            for start in range(0, s.n_cells, chunk_size):
                rows = np.arange(start, min(start + chunk_size, s.n_cells))
                part = pd.DataFrame({c: obs[c].astype(str).to_numpy()[rows] if c in obs.columns else MISSING
                                     for c in columns}, index=range(len(rows)))
                part["store"] = Path(s.path).name
                w.append(s.read_rows(rows), part)
            lines.append(f"{s.path}: {s.n_cells:,} cells")
    return finish_report(out, lines, log)
