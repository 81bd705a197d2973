"""Named corpus filters for SOMA / Census ingestion. ``sctab`` reproduces the reference corpus (scTab, 22.2 M cells).

scTab's curation of the CELLxGENE Census (theislab/scTab, ``docs/data.md``): human; ``is_primary_data``; the
seven 10x assays below; the protein-coding genes; and cell types that (a) have at least 5,000 cells, (b) are seen
in more than 30 dataset-donor pairs, (c) lie under ``cell`` in the Cell Ontology with at least 7 ancestors
(too general labels are dropped). The ontology is the Cell Ontology shipped by ``cellxgene-ontology-guide``
(maintained by CZI, the Census's own curators); a newer CL release can move a term across the depth cut, so the
ontology version is reported with the kept types.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

SCTAB_ASSAYS = ("10x 5' v2", "10x 3' v3", "10x 3' v2", "10x 5' v1", "10x 3' v1",
                "10x 3' transcription profiling", "10x 5' transcription profiling")
ROOT_CELL = "CL:0000000"


class CellTypeRule(BaseModel):
    """Which annotated cell types a corpus keeps (scTab's rule by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_cells: int = Field(5000, ge=1, description="a kept cell type has at least this many cells")
    min_dataset_donor_pairs: int = Field(31, ge=1, description="... and is seen in at least this many "
                                         "(dataset, donor) pairs (scTab: more than 30)")
    min_ancestors: int = Field(7, ge=0, description="... and has at least this many Cell Ontology ancestors")
    root: str = Field(ROOT_CELL, description="... and descends from this Cell Ontology term")
    term_key: str = "cell_type_ontology_term_id"
    dataset_key: str = "dataset_id"
    donor_key: str = "donor_id"


class ScTabPreset(BaseModel):
    """The reference corpus filter."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    organism: str = "homo_sapiens"
    assays: tuple[str, ...] = SCTAB_ASSAYS
    cell_types: CellTypeRule = CellTypeRule()

    @property
    def obs_filter(self) -> str:
        return f"is_primary_data == True and assay in {list(self.assays)}"

    var_filter: str | None = Field("feature_type == 'protein_coding'", description="SOMA var filter for the "
                                   "protein-coding genes (used when var has feature_type; else pass a gene list)")


def cell_ontology_ancestors() -> tuple[Callable[[str], list[str]], str]:
    """``(ancestors(term_id) -> term ids, description of the ontology version)`` from cellxgene-ontology-guide."""
    from cellxgene_ontology_guide.ontology_parser import OntologyParser

    parser = OntologyParser()
    version = parser.cxg_schema.supported_ontologies.get("CL", {}).get("version", "?")

    def ancestors(term: str) -> list[str]:
        try:
            return parser.get_term_ancestors(term)
        except ValueError:          # not a term of this CL release
            return []

    return ancestors, f"Cell Ontology {version} (cellxgene-ontology-guide)"


def keep_cell_types(obs: pd.DataFrame, rule: CellTypeRule, *,
                    ancestors: Callable[[str], list[str]] | None = None, ontology: str = ""
                    ) -> tuple[np.ndarray, list[str]]:
    """Mask of the cells whose type passes ``rule``, and report lines. O(cells) on categorical codes."""
    for key in (rule.term_key, rule.dataset_key, rule.donor_key):
        if key not in obs.columns:
            raise ValueError(f"cell-type rule needs obs column {key!r}; columns are {list(obs.columns)}")
    if ancestors is None:
        ancestors, ontology = cell_ontology_ancestors()
    terms = obs[rule.term_key].astype("category")
    codes = terms.cat.codes.to_numpy()
    n_types = len(terms.cat.categories)
    cells = np.bincount(codes[codes >= 0], minlength=n_types)
    ds = obs[rule.dataset_key].astype("category").cat.codes.to_numpy().astype(np.int64)
    dn = obs[rule.donor_key].astype("category").cat.codes.to_numpy().astype(np.int64)
    has = codes >= 0
    span_ds, span_dn = int(ds.max()) + 2, int(dn.max()) + 2          # codes + 1, so missing (-1) is 0
    triple = pd.unique((codes[has].astype(np.int64) * span_ds + ds[has] + 1) * span_dn + dn[has] + 1)
    pairs = np.bincount(triple // (span_ds * span_dn), minlength=n_types)
    keep_type = np.zeros(n_types, dtype=bool)
    dropped = {"cells": 0, "pairs": 0, "ontology": 0}
    for k, term in enumerate(terms.cat.categories):
        anc = ancestors(str(term))
        if cells[k] < rule.min_cells:
            dropped["cells"] += 1
        elif pairs[k] < rule.min_dataset_donor_pairs:
            dropped["pairs"] += 1
        elif rule.root not in anc or len(anc) < rule.min_ancestors:
            dropped["ontology"] += 1
        else:
            keep_type[k] = True
    mask = np.zeros(len(obs), dtype=bool)
    mask[codes >= 0] = keep_type[codes[codes >= 0]]
    lines = [f"cell types: {int(keep_type.sum())} of {n_types} kept ({int(mask.sum()):,} cells); dropped "
             f"{dropped['cells']} with < {rule.min_cells} cells, {dropped['pairs']} in < "
             f"{rule.min_dataset_donor_pairs} dataset-donor pairs, {dropped['ontology']} outside {rule.root} or "
             f"with < {rule.min_ancestors} ontology ancestors ({ontology})"]
    return mask, lines
