"""The one rule for unlabelled cells, used by selection (cell-type re-weighting), the label-aware families
(SCimilarity) and evaluation alike.

A cell is unlabelled when its label is missing (NaN/None) or, after trimming and lower-casing, one of the
sentinels public corpora use: CELLxGENE's ``unknown``, scBaseCount's ``unsure`` and ``not specified``, and
the usual empty / ``nan`` / ``none`` / ``na`` / ``unassigned`` strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SENTINELS = frozenset({"", "nan", "none", "na", "n/a", "<na>", "null", "unknown", "unsure", "not specified",
                       "unassigned", "unannotated"})


def is_unlabelled(labels) -> np.ndarray:
    """Boolean mask (one per cell) of the unlabelled cells. Categorical columns are tested per category, so a
    22 M-cell column costs one pass over its codes."""
    s = labels if isinstance(labels, pd.Series) else pd.Series(labels)
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = pd.Series(s.cat.categories.astype(str))
        bad_cat = cats.str.strip().str.lower().isin(SENTINELS).to_numpy()
        codes = s.cat.codes.to_numpy()
        return (codes < 0) | np.append(bad_cat, True)[np.where(codes < 0, len(bad_cat), codes)]
    return s.isna().to_numpy() | s.astype(str).str.strip().str.lower().isin(SENTINELS).to_numpy()
