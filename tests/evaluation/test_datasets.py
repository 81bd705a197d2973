"""Gene alignment as an invariant and the dataset registry (downloads: test_fetch.py)."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellplateau.corpus.gene_table import gene_table, id_to_symbol, symbol_to_id
from cellplateau.corpus.genes import map_genes
from cellplateau.evaluation.datasets import DatasetError, DatasetSpec, inspect_dataset, load_dataset


def test_gencode_table_translates_both_ways():
    t = gene_table("human")
    assert len(t) > 50_000 and t["gene_id"].is_unique
    assert id_to_symbol()["ENSG00000141510"] == "TP53"
    assert symbol_to_id()["TP53"] == "ENSG00000141510"
    assert symbol_to_id()["CD3E"].startswith("ENSG")
    assert (t.loc[t["gene_symbol"] == "TP53", "gene_type"] == "protein_coding").all()


def test_ensembl_dataset_maps_onto_a_symbol_vocabulary_and_back():
    vocab = pd.DataFrame({"gene_symbol": ["TP53", "CD3E", "MS4A1", "NOTAGENE"], "gene_id": ""})
    ids = ["ENSG00000141510.17", "ENSG00000198851", "ENSG00000000003"]     # TP53 (versioned), CD3E, TSPAN6
    m = map_genes(ids, vocab)
    assert list(m.target) == [0, 1, -1] and m.n_translated == 2 and "GENCODE" in m.key
    assert m.overlap == 0.5 and m.source_overlap == pytest.approx(2 / 3)
    id_vocab = pd.DataFrame({"gene_symbol": "", "gene_id": ["ENSG00000198851", "ENSG00000141510"]})
    back = map_genes(["TP53", "CD3E", "XYZ"], id_vocab)
    assert list(back.target) == [1, 0, -1]
    direct = map_genes(["TP53", "CD3E"], vocab, translate=False)
    assert direct.n_translated == 0 and list(direct.target) == [0, 1]
    X = sp.csr_matrix(np.array([[5, 7, 9]]))
    np.testing.assert_array_equal(m.apply(X).toarray(), [[5, 7, 0, 0]])


def _h5ad(path, genes, obs, counts=None):
    n = len(obs)
    counts = counts if counts is not None else np.random.default_rng(0).poisson(2, (n, len(genes)))
    ad.AnnData(X=sp.csr_matrix(counts.astype(np.float32)), obs=obs, var=pd.DataFrame(index=genes)).write_h5ad(path)
    return path


def test_low_overlap_is_refused_with_the_overlap_and_filters_apply(tmp_path):
    vocab = pd.DataFrame({"gene_symbol": [f"G{i}" for i in range(100)], "gene_id": ""})
    obs = pd.DataFrame({"cell_type": ["a", "b"] * 10, "demux": ["SNG"] * 15 + ["DBL"] * 5},
                       index=[f"c{i}" for i in range(20)])
    path = _h5ad(tmp_path / "d.h5ad", [f"G{i}" for i in range(30)] + ["X1", "X2"], obs)
    spec = DatasetSpec(name="d", path=path, min_gene_overlap=0.5)
    with pytest.raises(DatasetError, match=r"covers 30\.0% of the corpus vocabulary \(30 of 100 genes.*below the "
                                           r"minimum gene overlap 50\.0%"):
        inspect_dataset(spec, vocab)
    with pytest.raises(DatasetError, match="30.0%"):
        load_dataset(spec, vocab)
    ok = DatasetSpec(name="d", path=path, min_gene_overlap=0.2, obs_filter={"demux": ["SNG"]})
    assert inspect_dataset(ok, vocab).overlap == pytest.approx(0.3)
    ds = load_dataset(ok, vocab)
    assert ds.n_cells == 15 and ds.counts.shape == (15, 100) and ds.n_dropped == 5
    with pytest.raises(DatasetError, match=r"obs has no column 'batchx' \(batch_key of dataset 'd'\)"):
        inspect_dataset(DatasetSpec(name="d", path=path, batch_key="batchx"), vocab)


def test_tian_singlets_and_ensembl_ids_on_a_symbol_vocabulary(realdata):
    vocab = pd.DataFrame({"gene_symbol": ["TP53", "EPCAM", "KRT18", "VIM", "GAPDH", "NOTAGENE"], "gene_id": ""})
    spec = DatasetSpec(name="tian", path=realdata / "tian2019_lung_cellline_mixology_multiprotocol.h5ad",
                       label_key="cell_line", obs_filter={"demuxlet_cls": ["SNG"]}, min_gene_overlap=0.5)
    ds = load_dataset(spec, vocab)
    assert ds.n_cells == 1021 and ds.n_dropped == 387              # doublets and unassigned droplets removed
    assert ds.mapping.n_mapped == 5 and ds.mapping.n_translated == 5  # every match came through GENCODE
    assert ds.counts[:, :5].sum() > 0 and ds.counts[:, 5].sum() == 0
