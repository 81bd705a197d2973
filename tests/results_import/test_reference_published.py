"""The published per-seed tables of the reference study through examples/reference_published/mapping.yaml."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cellplateau.results_import.reader import import_tables

# rows the import leaves out per file, beyond the README's data rows: coresets (strategy.drop), runs written
# twice with equal values (the SSL_VAE file's 13-field rows, Geneformer_128's intestine block, one SSL fine-tune
# row), runs repeated with other values (duplicates: first: Geneformer_128's periodontitis block, SSL's untrained
# placenta seeds)
DROPS = {"PretrainedPCA_zeroshot_classification_eval_results.csv": 8,
         "scVI_zeroshot_classification_eval_results.csv": 8,
         "SSL_VAE_zeroshot_integration_eval_results.csv": 70,
         "Geneformer_128_num_embedding_zeroshot_classification_eval_results.csv": 60,
         "SSL_finetune_classification_eval_results.csv": 1,
         "SSL_zeroshot_classification_eval_results.csv": 5}


@pytest.fixture(scope="module")
def imported(reference_mapping):
    return import_tables(reference_mapping)


def readme_rows(folder) -> dict[str, int]:
    rows = {}
    for line in (folder / "README.md").read_text().splitlines():
        m = re.match(r"^\| `([^`]+\.csv)` \| (\d+) \| (\d+) \| (\d+) \|", line)
        if m:
            rows[m.group(1)] = int(m.group(4))
    return rows


def test_row_counts_per_file_match_the_readme(imported, reference_results):
    expected = readme_rows(reference_results)
    assert len(expected) == 55
    got = {f.name: f for f in imported.files}
    skipped = {n for n in expected if n.startswith(("old_", "timing_"))}
    assert set(imported.skipped) == skipped and len(skipped) == 6
    assert set(got) == set(expected) - skipped
    for name, f in got.items():
        assert f.rows == expected[name], name
        assert f.imported == expected[name] - DROPS.get(name, 0), name
    assert sum(f.records for f in got.values()) == len(imported.table)
    assert got["SSL_VAE_zeroshot_integration_eval_results.csv"].short_rows == 70


def test_controls_and_baselines(imported):
    t = imported.table
    pca = t[(t["task"] == "knn_classification") & (t["dataset"] == "hematopoiesis") & (t["metric"] == "micro_f1")
            & (t["family"] == "baseline:pca")]
    assert len(pca) == 1 and pca["value"].item() == pytest.approx(0.9383, abs=5e-5)
    assert pca["strategy"].item() == "baseline" and np.isnan(pca["fraction"].item()) and pca["n_cells"].isna().all()
    ssl = t[(t["family"] == "SSL") & (t["task"] == "knn_classification") & (t["dataset"] == "hematopoiesis")
            & (t["metric"] == "micro_f1")]
    ctl = ssl[ssl["strategy"] == "control"]
    assert sorted(ctl["replicate"]) == [30, 31, 32, 33, 34]
    assert (ctl["fraction"] == 0).all() and (ctl["n_cells"] == 0).all()
    rnd = ssl[ssl["strategy"] == "random"].groupby("fraction")["value"].mean()
    assert list(rnd.index) == [0.01, 0.1, 0.25, 0.5, 0.75, 1.0]
    assert rnd[0.01] == pytest.approx(0.64, abs=0.01) and rnd[1.0] == pytest.approx(0.91, abs=0.01)
    assert ctl["value"].mean() == pytest.approx(0.53, abs=0.01)
    nopred = t[t["family"] == "baseline:no_prediction"]
    assert set(nopred["strategy"]) == {"baseline"} and len(nopred) == 8      # 4 drugs x (R2, mse)
    assert set(t.loc[t["strategy"] == "baseline", "family"]) == {
        "baseline:pca", "baseline:hvg", "baseline:logistic_regression", "baseline:no_prediction"}


def test_models_strategies_and_sizes(imported):
    t = imported.table
    assert {"randomsplits", "coresets", "na"}.isdisjoint(t["strategy"])
    assert {"random", "celltype_reweighted", "geometric_sketching", "spikein_10", "spikein_50", "control",
            "baseline"} == set(t["strategy"])
    assert set(t.loc[t["family"] == "scVI", "model_size"]) == {"1x", "0.5x", "2x", "4x"}
    assert {"PCA", "SSL", "SSL_VAE", "Geneformer", "SCimilarity", "Geneformer_emb32",
            "Geneformer_wd1e-2"} <= set(t["family"])
    assert not t["family"].str.startswith("old_").any()
    keys = ["task", "dataset", "family", "model_size", "strategy", "fraction", "replicate", "metric"]
    assert not t.duplicated(keys).any()
    vae = t[(t["family"] == "SSL_VAE") & (t["task"] == "batch_integration") & (t["metric"] == "avg_bio")]
    assert vae.groupby("dataset").size().to_dict() == {d: 35 for d in ("kim_lung", "liver", "ocular",
                                                                        "periodontitis", "renal")}


def test_n_cells_and_directions(imported):
    t = imported.table
    m = t[~t["strategy"].isin(["baseline"])]
    assert (m["n_cells"].astype(float) == np.round(m["fraction"] * 22_200_000)).all()
    assert t["higher_is_better"].notna().all()
    direction = t.groupby("metric")["higher_is_better"].agg(set).to_dict()
    assert direction["mse"] == {False} and direction["val_loss"] == {False}
    assert direction["R2"] == {True} and direction["avg_bio"] == {True} and direction["micro_f1"] == {True}
    pre = t[t["task"] == "pretraining"]
    assert set(pre["metric"]) == {"val_loss"} and set(pre["dataset"]) == {"corpus"} and len(pre) == 58
    assert set(pre["family"]) == {"SSL", "scVI"}
    assert (t["study"] == "reference_published").all() and t["model_key"].isna().all()


def test_statements_against_the_numbers(imported, reference_mapping):
    from cellplateau.results_import.statements import check_statements

    st = check_statements(imported.table, reference_mapping)
    assert len(st) == 6 and (st["n"] > 0).all()
    zs = st[(st["task"] == "knn_classification") & st["check"].str.startswith("saturation")].iloc[0]
    assert zs["rule"] == "any_seed" and zs["n_hold"] == zs["n"]
