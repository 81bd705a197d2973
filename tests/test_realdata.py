"""Real-data path: a corpus from two real PBMC files, both families, zero-shot on sorted PBMC types."""

import numpy as np
import pandas as pd
import pytest
import yaml

from cellplateau.corpus.ingest import ingest_h5ad
from cellplateau.corpus.store import CorpusStore
from cellplateau.runner.context import StudyContext
from cellplateau.runner.execute import run_study
from cellplateau.spec import load_spec

pytestmark = pytest.mark.realdata


def test_real_corpus_pretrain_and_zero_shot(realdata, tmp_path):
    lines: list[str] = []
    ingest_h5ad(tmp_path / "corpus",
                [realdata / "pbmc_10x_3chemistries_unlabelled_scwgparis.h5ad",
                 realdata / "kang2018_pbmc_ifnb_harmony.h5ad"],
                obs_map={"assay": "chemistry"}, log=lines.append)
    store = CorpusStore(tmp_path / "corpus")
    assert store.n_cells == 2860 + 2000 and store.n_genes >= 19974
    assert set(store.obs["dataset"]) == {"pbmc_10x_3chemistries_unlabelled_scwgparis", "kang2018_pbmc_ifnb_harmony"}
    assert any(line.startswith("kang2018_pbmc_ifnb_harmony.h5ad: 9015 of 9015 genes mapped") for line in lines)
    spec = {
        "name": "real", "seed": 0, "output_dir": str(tmp_path / "out"), "corpus": {"path": str(tmp_path / "corpus")},
        "selection": {"strategies": [{"name": "random"}], "fractions": [0.25, 1.0], "replicates": 1},
        "families": [{"name": "pca", "n_components": 30, "n_hvg": 2000},
                     {"name": "mae", "hidden": [128], "latent": 32, "batch_size": 128, "lr": 0.002,
                      "budget": {"policy": "fixed_steps", "steps": 150}}],
        "evaluation": {"datasets": [{"name": "zheng_sorted",
                                     "path": str(realdata / "zheng2017_pbmc_sorted_reference_plus_donorA_mudan.h5ad"),
                                     "label_key": "cell_type"}],
                       "tasks": [{"name": "knn_classification"}]},
        "execution": {"device": "cpu"},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    run_study(load_spec(path), progress=False, log=lambda s: None)
    r = pd.read_parquet(StudyContext(load_spec(path)).layout.results)
    f1 = r[(r["task"] == "knn_classification") & (r["metric"] == "micro_f1")]
    majority = f1.loc[f1["family"] == "baseline:majority_class", "value"].item()
    models = f1[f1["strategy"] == "random"]
    assert len(models) == 4 and set(models["family"]) == {"pca", "mae"}
    assert (models["value"] > majority + 0.1).all(), (models[["family", "fraction", "value"]], majority)
    n_eval = r.loc[r["metric"] == "micro_f1", "n_eval_cells"] if "n_eval_cells" in r else None
    assert n_eval is None or np.all(n_eval == 2140)
