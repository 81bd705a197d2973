import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellplateau.corpus.genes import map_genes
from cellplateau.corpus.ingest import IngestError, ingest_h5ad, union_vocabulary
from cellplateau.corpus.store import CorpusStore


def _write(path, X, genes, obs=None):
    a = ad.AnnData(X=sp.csr_matrix(X), obs=obs if obs is not None else pd.DataFrame(index=[f"c{i}" for i in range(X.shape[0])]),
                   var=pd.DataFrame(index=genes))
    a.write_h5ad(path)
    return path


def test_genes_mapped_missing_are_zero_and_overlap_reported(tmp_path):
    a = _write(tmp_path / "a.h5ad", np.array([[1, 2, 0], [0, 5, 7]], dtype=np.int32), ["A", "B", "C"],
               pd.DataFrame({"celltype": ["x", "y"]}, index=["c0", "c1"]))
    b = _write(tmp_path / "b.h5ad", np.array([[3, 4]], dtype=np.int32), ["D", "B"])
    lines: list[str] = []
    rep = ingest_h5ad(tmp_path / "s", [a, b], obs_map={"cell_type": "celltype"}, chunk_size=1, log=lines.append)
    store = CorpusStore(tmp_path / "s")
    assert list(store.var["gene_symbol"]) == ["A", "B", "C", "D"]
    np.testing.assert_array_equal(store.read_range(0, 3).toarray(), [[1, 2, 0, 0], [0, 5, 7, 0], [0, 4, 0, 3]])
    assert list(store.obs["cell_type"]) == ["x", "y", "unknown"]
    assert list(store.obs["dataset"]) == ["a", "a", "b"]
    assert any("b.h5ad: 2 of 2 genes mapped by gene_symbol; covers 50.0%" in line for line in rep.lines)
    assert lines == rep.lines
    assert "b.h5ad: obs has no column 'celltype'; 'cell_type' is 'unknown' for its cells" in rep.lines


def test_ensembl_ids_map_onto_gene_id_ignoring_versions():
    vocab = pd.DataFrame({"gene_symbol": ["TP53", "EGFR"], "gene_id": ["ENSG00000141510", "ENSG00000146648"]})
    m = map_genes(["ENSG00000146648.12", "ENSG00000999999"], vocab)
    assert m.key == "gene_id" and list(m.target) == [1, -1]
    assert map_genes(["EGFR", "TP53", "TP53"], vocab).target.tolist() == [1, 0, -1]


@pytest.mark.parametrize("values, expected", [
    (np.array([[1.5, 2.0]]), r"bad\.h5ad: count matrix holds non-integer values \(e\.g\. 1\.5"),
    (np.array([[-1.0, 2.0]]), r"bad\.h5ad: count matrix holds negative values"),
])
def test_non_count_matrices_are_refused_naming_the_file(tmp_path, values, expected):
    bad = _write(tmp_path / "bad.h5ad", values.astype(np.float32), ["A", "B"])
    with pytest.raises(IngestError, match=expected):
        ingest_h5ad(tmp_path / "s", [bad])
    assert not (tmp_path / "s").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.h5ad"], "nothing half-written is left behind"


def test_missing_mapped_column_and_missing_file(tmp_path):
    a = _write(tmp_path / "a.h5ad", np.ones((2, 2), dtype=np.int32), ["A", "B"])
    with pytest.raises(IngestError, match=r"a\.h5ad: no input has obs column 'ct' \(mapped to 'cell_type'\)"):
        ingest_h5ad(tmp_path / "s", [a], obs_map={"cell_type": "ct"})
    with pytest.raises(IngestError, match=r"nope\.h5ad: file not found"):
        ingest_h5ad(tmp_path / "s", [tmp_path / "nope.h5ad"])


def test_union_vocabulary_refuses_mixed_namespaces(tmp_path):
    a = _write(tmp_path / "a.h5ad", np.ones((1, 1), dtype=np.int32), ["TP53"])
    b = _write(tmp_path / "b.h5ad", np.ones((1, 1), dtype=np.int32), ["ENSG00000141510"])
    with pytest.raises(IngestError, match="mix gene symbols and Ensembl IDs"):
        union_vocabulary([a, b])


def test_real_fractional_counts_are_refused(realdata, tmp_path):
    with pytest.raises(IngestError, match=r"panc8_human_pancreas_5tech_nebula\.h5ad: count matrix holds non-integer"):
        ingest_h5ad(tmp_path / "s", [realdata / "panc8_human_pancreas_5tech_nebula.h5ad"])


def test_ingest_progress_reports_cells_and_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CELLPLATEAU_PROGRESS", "plain")
    monkeypatch.setenv("CELLPLATEAU_PROGRESS_INTERVAL", "0")
    a = _write(tmp_path / "a.h5ad", np.array([[1, 2], [0, 5]], dtype=np.int32), ["A", "B"])
    b = _write(tmp_path / "b.h5ad", np.array([[3, 4]], dtype=np.int32), ["A", "B"])
    ingest_h5ad(tmp_path / "s", [a, b], chunk_size=1, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("ingest: 0/3 cells (0%)")
    assert any(line.startswith("ingest: 2/3 cells (67%)") and line.endswith("file 1/2 a.h5ad") for line in lines)
    assert lines[-1].startswith("ingest: 3/3 cells (100%)") and "done, file 2/2 b.h5ad" in lines[-1]
