"""Evaluation cells that are corpus cells, found on real files and kept out of the selection pool."""

import json

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
import yaml

from cellplateau.corpus.overlap import row_hashes
from cellplateau.runner.context import StudyContext
from cellplateau.runner.plan import PlanError, build_plan
from cellplateau.runner.units import run_unit
from cellplateau.selection.subset import load_subset
from cellplateau.spec import load_spec


def test_row_hashes_match_equal_counts_only():
    X = sp.csr_matrix(np.array([[1, 0, 3, 2, 5, 1, 0], [1, 0, 3, 2, 5, 1, 0], [1, 0, 3, 2, 5, 2, 0],
                                [0, 0, 1, 0, 0, 0, 0]], dtype=np.float32))
    h = row_hashes(X, np.ones(7, bool))
    assert (h[0] == h[1]).all() and not (h[0] == h[2]).all()
    assert (h[3] == 0).all()                                   # too few nonzeros to identify a cell
    only = np.array([1, 1, 1, 1, 1, 0, 1], bool)               # the differing gene is not shared
    assert (row_hashes(X, only)[0] == row_hashes(X, only)[2]).all()


def _spec(tmp_path, corpus, datasets, on_overlap="exclude"):
    spec = {"name": "ov", "seed": 1, "output_dir": str(tmp_path / "study"), "corpus": {"path": str(corpus)},
            "selection": {"strategies": [{"name": "random"}], "fractions": [0.5, 1.0], "replicates": 1,
                          "diversity": False},
            "families": [{"name": "pca", "n_components": 5, "n_hvg": 200}], "controls": False,
            "evaluation": {"datasets": datasets, "tasks": [{"name": "knn_classification", "baseline_hvg": 100}],
                           "min_gene_overlap": 0.1, "on_overlap": on_overlap},
            "execution": {"workers": 1, "device": "cpu", "threads": 1}}
    path = tmp_path / f"study-{on_overlap}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_spec(path)


@pytest.fixture(scope="module")
def kang_cut(realdata, tmp_path_factory):
    """300 cells of Kang 2018 (which the real corpus ingests) written as an evaluation file of their own."""
    kang = ad.read_h5ad(realdata / "kang2018_pbmc_ifnb_harmony.h5ad")
    cut = kang[np.sort(np.random.default_rng(0).choice(kang.n_obs, 300, replace=False))].copy()
    path = tmp_path_factory.mktemp("eval") / "kang_cut.h5ad"
    cut.write_h5ad(path)
    return path


def test_overlap_on_real_files_is_found_excluded_and_recorded(real_corpus, kang_cut, realdata, tmp_path):
    datasets = [{"name": "kang_cut", "path": str(kang_cut), "label_key": "condition"},
                {"name": "zheng", "path": str(realdata / "zheng2017_pbmc_sorted_reference_plus_donorA_mudan.h5ad"),
                 "label_key": "cell_type"}]
    spec = _spec(tmp_path, real_corpus, datasets)
    ctx = StudyContext(spec)
    plan = build_plan(ctx)
    assert plan.overlap["kang_cut"]["n_cells"] == 300 and plan.overlap["kang_cut"]["by_counts"] == 300
    assert plan.overlap["zheng"]["n_cells"] == 0
    assert any("300 corpus cells are evaluation cells" in w for w in plan.warnings)
    unit = next(u for u in plan.units["subset"] if u.params["fraction"] == 1.0)
    assert unit.params["exclude"]["n"] == 300 and unit.params["exclude"]["datasets"]["kang_cut"] == 300
    from cellplateau.runner.overlap import save_excluded

    save_excluded(ctx, plan)                       # what `run` does once the plan is accepted
    run_unit(ctx, unit)
    subset = load_subset(ctx.layout.subset(unit.key))
    assert len(subset.indices) == ctx.store.n_cells - 300
    assert subset.manifest["excluded_eval_cells"] == 300 and subset.manifest["on_overlap"] == "exclude"
    # the excluded rows are Kang's: their obs 'dataset' is the Kang file
    excluded = np.setdiff1d(np.arange(ctx.store.n_cells), subset.indices)
    assert set(ctx.store.obs["dataset"].astype(str).iloc[excluded]) == {"kang2018_pbmc_ifnb_harmony"}
    with pytest.raises(PlanError, match=r"kang_cut: 300 of 300 cells \(100\.0%\) are corpus cells"):
        build_plan(StudyContext(_spec(tmp_path, real_corpus, datasets, on_overlap="error")))
    warn = build_plan(StudyContext(_spec(tmp_path, real_corpus, datasets, on_overlap="warn")))
    assert "exclude" not in next(iter(warn.units["subset"])).params
    assert any("on_overlap: warn" in w for w in warn.warnings)
    assert json.loads(json.dumps(plan.overlap))                 # plain data, as the results table records it


def test_census_cells_are_found_by_dataset_and_soma_joinid_when_their_counts_differ(tmp_path):
    """A Census-derived corpus and evaluation file: the evaluation cells' counts were changed (here: one gene
    more per cell, as a different release or a re-quantification would), so only ``(dataset_id, soma_joinid)``
    can find them; the same joinids under another dataset id are other cells."""
    import pandas as pd

    from cellplateau.corpus.store import StoreWriter

    rng = np.random.default_rng(0)
    n, g = 400, 300
    counts = sp.csr_matrix(rng.poisson(0.5, (n, g)) * rng.integers(1, 4, (n, g)), dtype=np.int32)
    var = pd.DataFrame({"gene_symbol": [f"GENE{i}" for i in range(g)], "gene_id": [""] * g})
    obs = pd.DataFrame({"dataset": np.repeat(["ds-a", "ds-b"], n // 2), "soma_joinid": np.arange(n) + 10_000,
                        "cell_type": rng.choice(["t", "b"], n)})
    with StoreWriter(tmp_path / "corpus", var) as w:
        w.append(counts, obs)
    pick = np.arange(250, 300)                                   # 50 cells of ds-b ...
    X = counts[pick].toarray()
    X[:, 7] += 1                                                 # ... with changed counts
    other = counts[np.arange(20)].toarray() + 1                  # 20 cells whose joinids ds-a uses, from ds-c
    ev = ad.AnnData(X=sp.csr_matrix(np.vstack([X, other]).astype(np.float32)),
                    obs=pd.DataFrame({"dataset_id": ["ds-b"] * 50 + ["ds-c"] * 20,
                                      "soma_joinid": np.concatenate([pick, np.arange(20)]) + 10_000,
                                      "cell_type": rng.choice(["t", "b"], 70)},
                                     index=[f"c{i}" for i in range(70)]),
                    var=pd.DataFrame(index=var["gene_symbol"].to_numpy()))
    ev.write_h5ad(tmp_path / "census_cut.h5ad")
    plan = build_plan(StudyContext(_spec(tmp_path, tmp_path / "corpus", [
        {"name": "census_cut", "path": str(tmp_path / "census_cut.h5ad"), "label_key": "cell_type"}])))
    found = plan.overlap["census_cut"]
    assert (found["n_cells"], found["by_counts"], found["by_id"], found["corpus_rows"]) == (50, 0, 50, 50)
    unit = next(u for u in plan.units["subset"] if u.params["fraction"] == 1.0)
    assert unit.params["exclude"]["n"] == 50
