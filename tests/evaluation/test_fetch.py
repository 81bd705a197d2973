"""`cellplateau fetch` against a loopback HTTP server: first use writes SPEC.lock, later fetches verify against
it, a mismatch leaves nothing at the target and names the dataset, a 404 is one line; declared build steps."""

import functools
import http.server
import io
import json
import threading
import zipfile

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp
import yaml
from typer.testing import CliRunner

from cellplateau.cli import app
from cellplateau.evaluation.fetch import dataset_states
from cellplateau.evaluation.lockfile import Lock, lock_path
from cellplateau.evaluation.sources import DatasetSource, file_sha256
from cellplateau.spec import load_spec


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def file_server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(5)


def _cellxgene_h5ad(path, n=12, genes=("TP53", "CD3E", "MS4A1"), seed=0, label="x"):
    """The CELLxGENE layout: normalised values in X, raw counts in raw.X."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(3, (n, len(genes))).astype(np.float32)
    obs = pd.DataFrame({"cell_type": ["a", "b"] * (n // 2), "donor_id": label}, index=[f"{label}{i}" for i in range(n)])
    adata = ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=pd.DataFrame(index=list(genes)))
    adata.raw = adata.copy()
    adata.X = sp.csr_matrix(np.log1p(counts) / 3.0)
    adata.write_h5ad(path)
    return counts


def _spec(tmp_path, datasets):
    spec = {"name": "f", "output_dir": str(tmp_path / "out"),
            "corpus": {"path": str(tmp_path / "corpus"), "expected_cells": 1000, "expected_genes": 10},
            "selection": {"strategies": [{"name": "random"}], "fractions": [0.5], "replicates": 1},
            "families": [{"name": "pca", "n_components": 2}],
            "evaluation": {"datasets": datasets, "tasks": [{"name": "knn_classification"}]}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], terminal_width=240)


def test_first_fetch_writes_the_lock_then_match_mismatch_and_404(file_server, tmp_path):
    root, base = file_server
    _cellxgene_h5ad(root / "pbmc.h5ad")
    target = tmp_path / "data" / "pbmc.h5ad"
    spec_path = _spec(tmp_path, [{"name": "pbmc", "path": str(target), "source": {"url": f"{base}/pbmc.h5ad"}}])
    lock = lock_path(spec_path)
    assert lock.name == "study.yaml.lock"
    plan = _run("plan", spec_path)
    assert "pbmc missing" in plan.output and "1 missing" in plan.output and "not written yet" in plan.output

    first = _run("fetch", spec_path, "--no-progress")                    # first use: download, record
    assert first.exit_code == 0, first.output
    assert "pbmc: downloaded" in first.output
    entry = json.loads(lock.read_text())["datasets"]["pbmc"]
    assert entry["sha256"] == file_sha256(target) == file_sha256(root / "pbmc.h5ad")
    assert entry["files"]["pbmc.h5ad"]["url"] == f"{base}/pbmc.h5ad"
    assert "1 locked" in _run("plan", spec_path).output

    again = _run("fetch", spec_path, "--no-progress")                    # match: the file is verified
    assert again.exit_code == 0 and "pbmc: verified" in again.output
    target.unlink()                                                      # re-download verified against the lock
    assert "pbmc: downloaded" in _run("fetch", spec_path, "--no-progress").output

    _cellxgene_h5ad(root / "pbmc.h5ad", seed=1)                          # the server now serves another file
    target.unlink()
    bad = _run("fetch", spec_path, "--no-progress")
    assert bad.exit_code == 2
    assert "evaluation dataset 'pbmc'" in bad.output and "does not match its checksum" in bad.output
    assert not target.exists() and not list(target.parent.glob(".*tmp*"))   # nothing at (or beside) the target
    assert "Traceback" not in bad.output

    target.write_bytes(b"not the recorded file")                        # a replaced local file is refused too
    assert "changed" in _run("plan", spec_path).output
    replaced = _run("fetch", spec_path, "--no-progress")
    assert replaced.exit_code == 2 and "'pbmc'" in replaced.output and "delete its entry" in replaced.output

    spec404 = _spec(tmp_path / "b", [{"name": "gone", "path": str(tmp_path / "g.h5ad"),
                                      "source": {"url": f"{base}/nothing.h5ad"}}]) \
        if (tmp_path / "b").mkdir() is None else None
    res = _run("fetch", spec404, "--no-progress")
    assert res.exit_code == 2
    lines = [x for x in res.output.strip().splitlines() if x.strip()]
    assert lines[-1].startswith("error: evaluation dataset 'gone': could not download") and "404" in lines[-1]
    assert not (tmp_path / "g.h5ad").exists() and not lock_path(spec404).exists()


def test_spec_checksum_and_cellxgene_id(file_server, tmp_path):
    root, base = file_server
    dataset_id = "0123abcd-4567-89ef-0123-456789abcdef"
    _cellxgene_h5ad(root / f"{dataset_id}.h5ad")
    digest = file_sha256(root / f"{dataset_id}.h5ad")
    src = DatasetSource(cellxgene_dataset_id=dataset_id, cellxgene_base_url=base, sha256=digest)
    assert src.resolved_url() == f"{base}/{dataset_id}.h5ad"
    ok = {"name": "cx", "path": str(tmp_path / "cx.h5ad"), "source": src.model_dump(exclude_none=True)}
    wrong = {"name": "cx_wrong", "path": str(tmp_path / "w.h5ad"),
             "source": {**src.model_dump(exclude_none=True), "sha256": "0" * 64}}
    spec_path = _spec(tmp_path, [ok, wrong])
    res = _run("fetch", spec_path, "--no-progress", "--dataset", "cx")
    assert res.exit_code == 0 and "cx: downloaded" in res.output
    res = _run("fetch", spec_path, "--no-progress", "--dataset", "cx_wrong")
    assert res.exit_code == 2 and "'cx_wrong'" in res.output and "checksum" in res.output
    assert not (tmp_path / "w.h5ad").exists()
    with pytest.raises(ValueError, match="exactly one"):
        DatasetSource(url="http://x", cellxgene_dataset_id=dataset_id)


def test_concatenation_is_a_declared_step(file_server, tmp_path):
    root, base = file_server
    ifn = _cellxgene_h5ad(root / "ifn.h5ad", n=10, label="ifn", seed=2)
    media = _cellxgene_h5ad(root / "media.h5ad", n=6, genes=("CD3E", "TP53", "GAPDH"), label="media", seed=3)
    target = tmp_path / "data" / "chip.h5ad"
    spec_path = _spec(tmp_path, [{"name": "chip", "path": str(target), "source": {
        "files": [{"url": f"{base}/ifn.h5ad"}, {"url": f"{base}/media.h5ad"}],
        "build": {"step": "concatenate", "label": "condition"}}}])
    res = _run("fetch", spec_path, "--no-progress")
    assert res.exit_code == 0, res.output
    assert "chip: built" in res.output
    out = ad.read_h5ad(target)
    assert out.n_obs == 16 and list(out.var_names) == ["TP53", "CD3E"]          # the shared genes
    assert list(out.obs["condition"].unique()) == ["ifn", "media"] and out.obs_names.is_unique
    X = out.X.toarray()                                                          # raw counts, not the log values
    np.testing.assert_array_equal(X[:10], ifn[:, :2])
    np.testing.assert_array_equal(X[10:], media[:, [1, 0]])
    entry = Lock.read(lock_path(spec_path)).entry("chip")
    assert set(entry["files"]) == {"ifn.h5ad", "media.h5ad"} and entry["sha256"] == file_sha256(target)
    assert "chip: verified" in _run("fetch", spec_path, "--no-progress").output
    with pytest.raises(ValueError, match="build step"):
        DatasetSource(files=[{"url": f"{base}/ifn.h5ad"}, {"url": f"{base}/media.h5ad"}])


def test_weizmann_3ca_zip_is_converted(file_server, tmp_path):
    root, base = file_server
    rng = np.random.default_rng(0)
    genes, cells = [f"G{i}" for i in range(5)], [f"cell{i}" for i in range(8)]
    counts = rng.poisson(2, (len(genes), len(cells)))                           # 3CA: genes x cells
    buf = io.BytesIO()
    scipy.io.mmwrite(buf, sp.coo_matrix(counts))
    with zipfile.ZipFile(root / "Data_Kim2020_Lung.zip", "w") as zf:
        zf.writestr("Data_Kim2020_Lung/Exp_data_UMIcounts.mtx", buf.getvalue())
        zf.writestr("Data_Kim2020_Lung/Genes.txt", "\n".join(genes) + "\n")
        zf.writestr("Data_Kim2020_Lung/Cells.csv", pd.DataFrame(
            {"cell_name": cells, "sample": ["P1", "P2"] * 4, "cell_type": ["Malignant", "T cell"] * 4}).to_csv(index=False))
        zf.writestr("Data_Kim2020_Lung/Meta-data.csv", pd.DataFrame(
            {"sample": ["P1", "P2"], "tissue": ["lung", "lymph node"]}).to_csv(index=False))
    target = tmp_path / "kim.h5ad"
    spec_path = _spec(tmp_path, [{"name": "kim2020", "path": str(target), "source": {
        "files": [{"url": f"{base}/Data_Kim2020_Lung.zip"}], "build": {"step": "weizmann_3ca"}}}])
    res = _run("fetch", spec_path, "--no-progress")
    assert res.exit_code == 0, res.output
    out = ad.read_h5ad(target)
    assert out.shape == (8, 5) and list(out.obs_names) == cells
    np.testing.assert_array_equal(out.X.toarray() if sp.issparse(out.X) else out.X, counts.T)
    assert list(out.obs["tissue"]) == ["lung", "lymph node"] * 4                # sample metadata joined


def test_dataset_states_without_hashing(tmp_path):
    spec_path = _spec(tmp_path, [{"name": "here", "path": str(tmp_path / "here.h5ad")},
                                 {"name": "away", "path": str(tmp_path / "away.h5ad"),
                                  "source": {"url": "http://127.0.0.1:9/away.h5ad"}}])
    _cellxgene_h5ad(tmp_path / "here.h5ad")
    spec = load_spec(spec_path)
    states = {s.name: s.state for s in dataset_states(spec.evaluation.datasets, Lock.read(spec.lock_file))}
    assert states == {"here": "unverified", "away": "missing"}
    res = _run("fetch", spec_path, "--no-progress", "--dataset", "here")       # a local file is recorded
    assert res.exit_code == 0 and "here: recorded" in res.output
    states = {s.name: s.state for s in dataset_states(spec.evaluation.datasets, Lock.read(spec.lock_file))}
    assert states["here"] == "locked"
    mirror = _spec(tmp_path / "m", [{"name": "mirrored", "path": str(tmp_path / "m" / "copy.h5ad"),
                                     "source": {"url": f"file://{tmp_path / 'here.h5ad'}"}}]) \
        if (tmp_path / "m").mkdir() is None else None                    # a local mirror is copied and locked
    res = _run("fetch", mirror, "--no-progress")
    assert res.exit_code == 0 and "mirrored: downloaded" in res.output
    assert file_sha256(tmp_path / "m" / "copy.h5ad") == file_sha256(tmp_path / "here.h5ad")


def test_a_census_dataset_named_by_publication_resolves_to_one_dataset():
    from cellplateau.evaluation.sources import CensusDataset, DownloadError, resolve_census_dataset

    table = pd.DataFrame({
        "collection_doi": ["10.1038/s41586-023-05769-3", "10.1038/s41586-023-05769-3", "10.1/other"],
        "dataset_id": ["id-sc", "id-sn", "id-x"],
        "dataset_title": ["Single-cell RNA-seq of the adult human kidney", "snRNA-seq of the adult human kidney",
                          "Single-cell RNA-seq of the adult human kidney"],
        "dataset_h5ad_path": ["id-sc.h5ad", "id-sn.h5ad", "id-x.h5ad"], "dataset_total_cell_count": [97_000, 5, 9]})
    ref = CensusDataset(collection_doi="https://doi.org/10.1038/S41586-023-05769-3", dataset_title="single-cell")
    assert resolve_census_dataset(table, ref, name="renal").dataset_id == "id-sc"
    with pytest.raises(DownloadError, match=r"'renal': several datasets match .*97,000 cells, id-sc.*id-sn"):
        resolve_census_dataset(table, ref.model_copy(update={"dataset_title": "kidney"}), name="renal")
    with pytest.raises(DownloadError, match="no dataset matches"):
        resolve_census_dataset(table, ref.model_copy(update={"dataset_title": "liver"}), name="renal")
    src = DatasetSource(census=ref)
    assert src.describe().startswith("census 2023-05-15 dataset of doi:") and src.parts()[0].filename() == \
        "census_dataset.h5ad"


def test_run_verifies_against_the_lock_and_fetch_shows_progress(file_server, tmp_path, monkeypatch):
    from cellplateau.evaluation.sources import DownloadError
    from cellplateau.runner.execute import ensure_datasets

    root, base = file_server
    _cellxgene_h5ad(root / "pbmc.h5ad")
    target = tmp_path / "pbmc.h5ad"
    spec_path = _spec(tmp_path, [{"name": "pbmc", "path": str(target), "source": {"url": f"{base}/pbmc.h5ad"}}])
    monkeypatch.setenv("CELLPLATEAU_PROGRESS", "plain")
    res = _run("fetch", spec_path)                                         # with the progress bar (plain lines)
    assert res.exit_code == 0
    assert "pbmc: pbmc.h5ad: " in res.output and "bytes (100%)" in res.output
    spec = load_spec(spec_path)
    ensure_datasets(spec, log=lambda m: None)                              # run's check: the file matches
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))                                        # same size, another content
    with pytest.raises(DownloadError, match="'pbmc'.*does not match its checksum"):
        ensure_datasets(spec, log=lambda m: None)


def test_one_file_with_its_counts_in_a_layer(file_server, tmp_path):
    """The scIB pancreas layout (normalised X, counts in layers["counts"]): the declared step keeps the counts."""
    root, base = file_server
    counts = np.random.default_rng(4).poisson(2, (6, 3)).astype(np.float32)
    a = ad.AnnData(X=sp.csr_matrix(np.log1p(counts)), obs=pd.DataFrame({"tech": ["x", "y"] * 3},
                                                                      index=[f"c{i}" for i in range(6)]),
                   var=pd.DataFrame(index=["A", "B", "C"]))
    a.layers["counts"] = sp.csr_matrix(counts)
    a.write_h5ad(root / "pancreas.h5ad")
    target = tmp_path / "pancreas_counts.h5ad"
    spec_path = _spec(tmp_path, [{"name": "pancreas", "path": str(target), "source": {
        "files": [{"url": f"{base}/pancreas.h5ad"}], "build": {"step": "concatenate", "layer": "counts"}}}])
    res = _run("fetch", spec_path, "--no-progress")
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(ad.read_h5ad(target).X.toarray(), counts)
