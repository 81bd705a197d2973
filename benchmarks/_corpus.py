"""Large synthetic corpora for the benchmarks, written chunk by chunk (never held in memory).

Cells belong to power-law-sized cell types (each with its own gene program) and to datasets stored one after
another, as in a real atlas, so block-shuffled loading has something to mix. Counts are small integers on about
``nnz_per_cell`` of ``n_genes`` genes. Writes either a cellplateau store or a TileDB-SOMA experiment (the
Census's layout: obs, ms/RNA/var, ms/RNA/X/raw).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

ASSAYS = ("10x 3' v3", "10x 3' v2", "10x 5' v1")


def chunks(n_cells: int, *, n_genes: int = 2000, n_types: int = 30, n_datasets: int = 40, nnz_per_cell: int = 80,
           chunk: int = 100_000, seed: int = 0) -> Iterator[tuple[sp.csr_matrix, pd.DataFrame]]:
    rng = np.random.default_rng(seed)
    w = np.arange(1, n_types + 1, dtype=float) ** -1.3
    w /= w.sum()
    programs = np.stack([rng.choice(n_genes, 200, replace=False) for _ in range(n_types)])
    ds_bounds = np.sort(rng.choice(np.arange(1, n_cells), n_datasets - 1, replace=False))
    for start in range(0, n_cells, chunk):
        n = min(chunk, n_cells - start)
        types = rng.choice(n_types, n, p=w)
        dataset = np.searchsorted(ds_bounds, np.arange(start, start + n), side="right")
        lens = rng.integers(nnz_per_cell // 2, nnz_per_cell * 3 // 2, n)
        rows = np.repeat(np.arange(n), lens)
        own = rng.random(len(rows)) < 0.85
        cols = np.where(own, programs[types[rows], rng.integers(0, 200, len(rows))],
                        rng.integers(0, n_genes, len(rows)))
        vals = np.where(own, rng.geometric(0.3, len(rows)), rng.geometric(0.7, len(rows))).astype(np.int32)
        X = sp.coo_matrix((vals, (rows, cols)), shape=(n, n_genes)).tocsr()
        obs = pd.DataFrame({"cell_type": [f"type_{t}" for t in types], "dataset": [f"ds_{d}" for d in dataset],
                            "donor": [f"donor_{d}_{k}" for d, k in zip(dataset, rng.integers(0, 5, n))],
                            "tissue": "blood", "assay": np.asarray(ASSAYS)[dataset % 3]})
        yield X, obs


def var_table(n_genes: int) -> pd.DataFrame:
    return pd.DataFrame({"gene_symbol": [f"G{i}" for i in range(n_genes)],
                         "gene_id": [f"ENSG{i:011d}" for i in range(n_genes)]})


def write_store(path: Path, n_cells: int, **kw):
    from cellplateau.corpus.store import CorpusStore, StoreWriter

    if (path / "store.json").exists() and CorpusStore(path).n_cells == n_cells:
        return CorpusStore(path)
    with StoreWriter(path, var_table(kw.get("n_genes", 2000))) as w:
        for X, obs in chunks(n_cells, **kw):
            w.append(X, obs)
    return CorpusStore(path)


def write_soma(uri: Path, n_cells: int, *, n_genes: int = 2000, **kw) -> Path:
    """A SOMA experiment with Census column names, written ``chunk`` cells at a time."""
    import pyarrow as pa
    import tiledbsoma as soma

    if (uri / "done").exists():
        return uri
    text = pa.dictionary(pa.int32(), pa.large_string())
    obs_schema = pa.schema([("soma_joinid", pa.int64()), ("cell_type", pa.large_string()),
                            ("cell_type_ontology_term_id", pa.large_string()), ("dataset_id", pa.large_string()),
                            ("donor_id", pa.large_string()), ("tissue", pa.large_string()),
                            ("assay", pa.large_string()), ("is_primary_data", pa.bool_())])
    del text
    with soma.Experiment.create(str(uri)) as exp:
        obs_df = exp.add_new_dataframe("obs", schema=obs_schema, index_column_names=["soma_joinid"],
                                       domain=[(0, n_cells - 1)])
        ms = exp.add_new_collection("ms")
        rna = ms.add_new_collection("RNA", soma.Measurement)
        var = var_table(n_genes)
        var_tbl = pa.table({"soma_joinid": np.arange(n_genes, dtype=np.int64), "feature_id": var["gene_id"],
                            "feature_name": var["gene_symbol"], "feature_type": ["protein_coding"] * n_genes})
        var_df = rna.add_new_dataframe("var", schema=var_tbl.schema, index_column_names=["soma_joinid"],
                                       domain=[(0, n_genes - 1)])
        var_df.write(var_tbl)
        X = rna.add_new_collection("X").add_new_sparse_ndarray("raw", type=pa.float32(), shape=(n_cells, n_genes))
        start = 0
        for counts, obs in chunks(n_cells, n_genes=n_genes, **kw):
            n = counts.shape[0]
            obs_df.write(pa.table({
                "soma_joinid": np.arange(start, start + n, dtype=np.int64), "cell_type": obs["cell_type"],
                "cell_type_ontology_term_id": obs["cell_type"], "dataset_id": obs["dataset"],
                "donor_id": obs["donor"], "tissue": obs["tissue"], "assay": obs["assay"],
                "is_primary_data": np.ones(n, dtype=bool)}, schema=obs_schema))
            coo = counts.tocoo()
            X.write(pa.table({"soma_dim_0": coo.row.astype(np.int64) + start, "soma_dim_1": coo.col.astype(np.int64),
                              "soma_data": coo.data.astype(np.float32)}))
            start += n
    (uri / "done").touch()
    return uri


def write_h5ads(folder: Path, n_cells: int, *, n_files: int = 5, n_genes: int = 2000, **kw) -> list[Path]:
    """The corpus as ``n_files`` CSR ``.h5ad`` files (float32 counts), written slice by slice with h5py."""
    import h5py
    from anndata.io import write_elem

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"part{i}.h5ad" for i in range(n_files)]
    if all(p.exists() for p in paths):
        return paths
    bounds = np.linspace(0, n_cells, n_files + 1).astype(int)
    gen = chunks(n_cells, n_genes=n_genes, **kw)
    pending: list[tuple[sp.csr_matrix, pd.DataFrame]] = []
    for i, p in enumerate(paths):
        need = bounds[i + 1] - bounds[i]
        parts, have = [], 0
        while have < need:
            X, obs = pending.pop() if pending else next(gen)
            take = min(need - have, X.shape[0])
            parts.append((X[:take], obs.iloc[:take]))
            if take < X.shape[0]:
                pending.append((X[take:], obs.iloc[take:].reset_index(drop=True)))
            have += take
        tmp = p.with_suffix(".tmp")
        with h5py.File(tmp, "w") as f:
            f.attrs["encoding-type"], f.attrs["encoding-version"] = "anndata", "0.1.0"
            obs = pd.concat([o for _, o in parts], ignore_index=True)
            obs.index = [f"{i}_{j}" for j in range(len(obs))]
            write_elem(f, "obs", obs)
            write_elem(f, "var", var_table(n_genes).set_index("gene_symbol"))
            g = f.create_group("X")
            g.attrs["encoding-type"], g.attrs["encoding-version"] = "csr_matrix", "0.1.0"
            g.attrs["shape"] = (need, n_genes)
            nnz = sum(X.nnz for X, _ in parts)
            indptr = np.zeros(need + 1, dtype=np.int64)
            np.cumsum(np.concatenate([np.diff(X.indptr) for X, _ in parts]), out=indptr[1:])
            g.create_dataset("indptr", data=indptr)
            data = g.create_dataset("data", shape=(nnz,), dtype=np.float32)
            ind = g.create_dataset("indices", shape=(nnz,), dtype=np.int32)
            a = 0
            for X, _ in parts:
                data[a : a + X.nnz] = X.data.astype(np.float32)
                ind[a : a + X.nnz] = X.indices
                a += X.nnz
        tmp.rename(p)
        del parts
    return paths
