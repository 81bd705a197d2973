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


def _mine_per_anchor(emb, labels, groups, margin):
    """The rule of ``mine_triplets`` written anchor by anchor (its former implementation): the reference."""
    import torch

    d = torch.cdist(emb, emb).numpy()
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    valid = labels != ""
    other_group = groups[:, None] != groups[None, :]
    anchors, pos, neg = [], [], []
    for a in np.flatnonzero(valid & same.any(1)):
        cand = np.flatnonzero(same[a] & other_group[a]) if (same[a] & other_group[a]).any() else np.flatnonzero(same[a])
        p = cand[np.argmax(d[a, cand])]
        negs = np.flatnonzero(~same[a] & valid & (np.arange(len(labels)) != a))
        if len(negs) == 0:
            continue
        semi = negs[(d[a, negs] > d[a, p]) & (d[a, negs] < d[a, p] + margin)]
        n = semi[np.argmin(d[a, semi])] if len(semi) else negs[np.argmin(d[a, negs])]
        anchors.append(a)
        pos.append(p)
        neg.append(n)
    return np.asarray(anchors, int), np.asarray(pos, int), np.asarray(neg, int)


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_mining_picks_the_triplets_of_the_per_anchor_rule(seed):
    import torch

    rng = np.random.default_rng(seed)
    n = 120
    emb = torch.from_numpy(rng.normal(size=(n, 4)).round(1).astype(np.float32))     # rounded: distance ties
    labels = rng.choice(["a", "b", "c", "", "solo"] if seed % 2 else ["a", "b"], n)
    labels[labels == "solo"] = np.where(np.arange((labels == "solo").sum()) == 0, "solo", "a")
    groups = rng.choice(["d1", "d2", "d3"], n)
    got, want = mine_triplets(emb, labels, groups, 0.3), _mine_per_anchor(emb, labels, groups, 0.3)
    assert len(want[0]) > 50
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


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
