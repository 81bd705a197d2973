"""Ingestion from a local TileDB-SOMA experiment (the Census's format), built here with tiledbsoma.io."""

import subprocess
import sys
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellplateau.corpus.presets import SCTAB_ASSAYS, CellTypeRule, ScTabPreset, keep_cell_types
from cellplateau.corpus.soma import SomaSource, ingest_soma
from cellplateau.corpus.store import CorpusStore

# (term, label, cells, dataset-donor pairs): one type kept per reason, one dropped per reason
TYPES = [("CL:0000624", "CD4-positive, alpha-beta T cell", 600, 8),   # kept (13 CL ancestors)
         ("CL:0000236", "B cell", 400, 6),                             # kept (10 ancestors)
         ("CL:0000057", "fibroblast", 400, 8),                         # dropped: 4 ancestors < 7
         ("CL:0000084", "T cell", 40, 8),                              # dropped: too few cells
         ("CL:0000576", "monocyte", 300, 2)]                           # dropped: too few dataset-donor pairs


def _experiment(path, *, n_genes=60, seed=0, types=TYPES, density=0.2):
    import anndata as ad
    import tiledbsoma.io

    rng = np.random.default_rng(seed)
    obs = []
    for term, label, n, pairs in types:
        pair = rng.integers(0, pairs, n)
        pair[:pairs] = np.arange(pairs)                 # every pair is used
        obs.append(pd.DataFrame({"cell_type_ontology_term_id": term, "cell_type": label,
                                 "dataset_id": [f"ds{p % 3}" for p in pair], "donor_id": [f"d{p}" for p in pair]}))
    obs = pd.concat(obs, ignore_index=True)
    n = len(obs)
    obs["assay"] = rng.choice([SCTAB_ASSAYS[0], SCTAB_ASSAYS[1], "Smart-seq2"], n, p=[0.5, 0.4, 0.1])
    obs["is_primary_data"] = rng.random(n) < 0.9
    obs["tissue"] = rng.choice(["blood", "lung"], n)
    obs.index = [f"c{i}" for i in range(n)]
    var = pd.DataFrame({"feature_id": [f"ENSG{i:011d}" for i in range(n_genes)],
                        "feature_name": [f"G{i}" for i in range(n_genes)],
                        "feature_type": np.where(np.arange(n_genes) % 4 == 3, "lncRNA", "protein_coding")},
                       index=[f"ENSG{i:011d}" for i in range(n_genes)])
    X = sp.random(n, n_genes, density=density, format="csr", random_state=seed, dtype=np.float32)
    X.data = np.ceil(X.data * 20).astype(np.float32)
    adata = ad.AnnData(X=X, obs=obs, var=var)
    tiledbsoma.io.from_anndata(str(path), adata, measurement_name="RNA", X_layer_name="raw")
    return adata


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    path = tmp_path_factory.mktemp("soma") / "exp"
    return path, _experiment(path)


def test_obs_filter_and_chunks_match_the_source(experiment, tmp_path):
    path, adata = experiment
    flt = "is_primary_data == True and assay != 'Smart-seq2'"
    rep = ingest_soma(tmp_path / "store", SomaSource(uri=str(path)), obs_filter=flt, chunk_size=97)
    store = CorpusStore(tmp_path / "store")
    keep = adata.obs["is_primary_data"].to_numpy() & (adata.obs["assay"] != "Smart-seq2").to_numpy()
    assert rep.n_cells == store.n_cells == keep.sum() and store.n_genes == adata.n_vars
    np.testing.assert_array_equal(store.read_range(0, store.n_cells).toarray(), adata.X[keep].toarray())
    np.testing.assert_array_equal(store.obs["cell_type"].astype(str), adata.obs["cell_type"][keep])
    np.testing.assert_array_equal(store.obs["donor"].astype(str), adata.obs["donor_id"][keep])
    np.testing.assert_array_equal(store.obs["soma_joinid"], np.flatnonzero(keep))
    assert list(store.var["gene_id"]) == list(adata.var["feature_id"])
    assert store.meta["provenance"]["obs_filter"] == flt


def test_sctab_preset_keeps_the_right_types_and_genes(experiment, tmp_path):
    path, adata = experiment
    p = ScTabPreset()
    rule = CellTypeRule(min_cells=100, min_dataset_donor_pairs=5)     # scaled down to the small experiment
    rep = ingest_soma(tmp_path / "store", SomaSource(uri=str(path)), obs_filter=p.obs_filter, var_filter=p.var_filter,
                      cell_filter=lambda obs: keep_cell_types(obs, rule),
                      extra_columns=(rule.term_key, rule.dataset_key, rule.donor_key), chunk_size=150)
    store = CorpusStore(tmp_path / "store")
    o = adata.obs
    keep = (o["is_primary_data"] & o["assay"].isin(SCTAB_ASSAYS)
            & o["cell_type_ontology_term_id"].isin(["CL:0000624", "CL:0000236"])).to_numpy()
    genes = (adata.var["feature_type"] == "protein_coding").to_numpy()
    assert set(store.obs["cell_type_ontology_term_id"].astype(str)) == {"CL:0000624", "CL:0000236"}
    np.testing.assert_array_equal(store.read_range(0, store.n_cells).toarray(), adata.X[keep][:, genes].toarray())
    assert "2 of 5 kept" in rep.lines[1] and "1 with < 100 cells" in rep.lines[1]
    assert "1 in < 5 dataset-donor pairs" in rep.lines[1] and "1 outside CL:0000000" in rep.lines[1]


def test_cell_type_rule_on_codes_counts_pairs():
    obs = pd.DataFrame({"cell_type_ontology_term_id": ["A"] * 6 + ["B"] * 6,
                        "dataset_id": ["x", "x", "y", "y", "y", "z"] + ["x"] * 6,
                        "donor_id": ["1", "2", "1", "1", "1", "1"] + ["1", "2", "3", "1", "2", "3"]})
    anc = {"A": ["CL:0000000"] * 7, "B": ["CL:0000000"] * 7}.get
    mask, _ = keep_cell_types(obs, CellTypeRule(min_cells=1, min_dataset_donor_pairs=4), ancestors=anc)
    assert mask.tolist() == [True] * 6 + [False] * 6          # A: 4 pairs (x1 x2 y1 z1); B: 3 pairs


def test_ingestion_memory_is_bounded_by_the_chunk(tmp_path):
    """A 40 k-cell experiment ingested 1,000 cells at a time never holds the matrix: the Python-heap peak
    (numpy buffers included) stays a small fraction of the counts' size."""
    path = tmp_path / "big"
    types = [("CL:0000624", "T", 40_000, 4)]
    adata = _experiment(path, n_genes=800, types=types, density=0.12)
    full_bytes = adata.X.nnz * 8                       # int32 indices + int32 counts
    del adata
    tracemalloc.start()
    ingest_soma(tmp_path / "store", SomaSource(uri=str(path)), chunk_size=1000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert CorpusStore(tmp_path / "store").n_cells == 40_000
    assert peak < 0.25 * full_bytes, f"peak {peak / 1e6:.1f} MB vs matrix {full_bytes / 1e6:.1f} MB"


def test_cli_ingests_a_soma_experiment(experiment, tmp_path):
    path, adata = experiment
    res = subprocess.run([sys.executable, "-m", "cellplateau", "ingest", str(tmp_path / "s"), "--soma", str(path),
                          "--obs-filter", "tissue == 'lung'", "--var-filter", "feature_type == 'protein_coding'"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    store = CorpusStore(tmp_path / "s")
    assert store.n_cells == int((adata.obs["tissue"] == "lung").sum()) and store.n_genes == 45
    bad = subprocess.run([sys.executable, "-m", "cellplateau", "ingest", str(tmp_path / "t"), "--soma", str(path),
                          "--obs-filter", "no_such_column == 1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "obs filter" in bad.stderr and not (tmp_path / "t").exists()


def test_cli_sctab_preset_applies_the_reference_thresholds(experiment, tmp_path):
    """At the reference thresholds (>= 5,000 cells a type) nothing of the small experiment survives: the preset's
    rule is wired in, and the refusal is an error naming the source, not an empty store."""
    path, _ = experiment
    res = subprocess.run([sys.executable, "-m", "cellplateau", "ingest", str(tmp_path / "s"), "--soma", str(path),
                          "--preset", "sctab"], capture_output=True, text=True)
    assert res.returncode == 2 and "no cell passes the filters" in res.stderr, res.stderr
    assert not (tmp_path / "s").exists()
