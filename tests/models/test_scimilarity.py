import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellplateau.corpus.store import CorpusStore, StoreWriter
from cellplateau.models.scimilarity import check_labels, mine_triplets
from tests.models._learning import assert_learns_and_round_trips, train_tiny


def test_scimilarity_learns_and_round_trips(tiny_atlas, tiny_store, tmp_path):
    model = train_tiny(tiny_store, "scimilarity", size="xs", triplet_weight=0.1,
                       budget={"policy": "fixed_steps", "steps": 200})
    assert_learns_and_round_trips(model, tiny_atlas, tiny_store, tmp_path, margin=0.15)
    emb = model.embed(tiny_store.read_rows(np.arange(10)))
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)   # L2-normalised output
    assert model.fit_info.budget["triplets_per_step"] > 100


def test_triplet_mining_prefers_other_datasets_and_semi_hard_negatives():
    import torch

    emb = torch.tensor([[0.0, 0], [0.1, 0], [1.0, 0], [0.0, 0.3], [0.0, 2.0]])
    labels = np.array(["a", "a", "a", "b", "b"])
    groups = np.array(["d1", "d1", "d2", "d1", "d1"])
    a, p, n = mine_triplets(emb, labels, groups, margin=0.5)
    i = list(a).index(0)
    assert p[i] == 2            # positive from another dataset, even though cell 1 is closer
    assert n[i] == 3            # hardest negative: no semi-hard one exists within the margin
    assert all(labels[x] == labels[y] for x, y in zip(a, p)) and all(labels[x] != labels[y] for x, y in zip(a, n))


def test_corpus_without_labels_fails_at_plan_time(tmp_path, tiny_atlas):
    var = pd.DataFrame({"gene_symbol": ["A", "B"], "gene_id": ["", ""]})
    with StoreWriter(tmp_path / "s", var) as w:
        w.append(sp.csr_matrix(np.ones((4, 2), dtype=np.int32)), pd.DataFrame({"dataset": ["x"] * 4}))
    with pytest.raises(ValueError, match=r"needs cell-type labels: corpus .* has no obs column 'cell_type'"):
        check_labels(CorpusStore(tmp_path / "s"), "cell_type")

    import yaml

    from cellplateau.runner.context import StudyContext
    from cellplateau.runner.plan import PlanError, build_plan
    from cellplateau.spec import load_spec

    spec = {"name": "x", "output_dir": str(tmp_path / "o"), "corpus": {"path": str(tmp_path / "s")},
            "selection": {"strategies": [{"name": "random"}], "fractions": [1.0]},     # 4 cells: 3 to train
            "families": [{"name": "pca"}, {"name": "scimilarity"}],
            "evaluation": {"datasets": [{"name": "d", "path": str(tiny_atlas / "eval" / "new_assay.h5ad")}],
                           "tasks": [{"name": "knn_classification"}]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(PlanError, match=r"families\[scimilarity\]: family 'scimilarity' needs cell-type labels"):
        build_plan(StudyContext(load_spec(tmp_path / "s.yaml")))
    assert not (tmp_path / "o").exists()
