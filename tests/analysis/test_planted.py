"""The planted answer (planted.json) beside a hand-made verdict table."""

import json

import numpy as np
import pandas as pd
import pytest

from cellplateau.analysis.planted import compare_planted, planted_answer, planted_rows, to_text
from cellplateau.corpus import planted as sim_planted
from cellplateau.corpus.simulate import AtlasParams

PARAMS = AtlasParams(n_cells=4000, n_genes=300, planted_states=2, planted_cells=400, planted_min_cells=100)


@pytest.fixture
def eval_dir(tmp_path):
    sim_planted.write_answer(tmp_path, PARAMS)
    return tmp_path


def _verdicts(rows):
    cols = ["task", "dataset", "model", "strategy", "scaling_verdict", "saturation", "saturation_lo",
            "saturation_hi"]
    return pd.DataFrame(rows, columns=cols)


def test_answer_is_computed_from_the_parameters(eval_dir):
    ans = planted_answer(eval_dir).set_index("dataset")
    assert ans.loc["planted", "saturation"] == pytest.approx(100 / 400)
    assert ans.loc["planted", "saturation_lo"] == pytest.approx(0.25 / sim_planted.PLANTED_TOLERANCE)
    assert ans.loc["planted", "expected"] == "data-limited"
    assert ans.loc["no_signal", "expected"] == "no pretraining effect"
    assert np.isnan(ans.loc["no_signal", "saturation"])
    # a study naming the datasets otherwise
    ans = planted_answer(eval_dir, datasets={"planted_state": "rare"})
    assert set(ans["dataset"]) == {"rare", "no_signal"}


def test_compare_marks_recovered_curves(eval_dir):
    v = _verdicts([
        ("knn_classification", "planted", "pca", "random", "data-limited", 0.25, 0.1, 0.5),      # yes
        ("knn_classification", "planted", "mae", "random", "data-limited", 0.25, 0.5, 1.0),      # interval misses
        ("knn_classification", "planted", "mae-xs", "random", "capacity-limited", np.nan, np.nan, np.nan),
        ("knn_classification", "planted", "pca", "geometric_sketch", "data-limited", 1.0, 0.5, 1.0),  # too late
        ("knn_classification", "no_signal", "pca", "random", "no pretraining effect", np.nan, np.nan, np.nan),
        ("knn_classification", "no_signal", "mae", "random", "still rising", np.nan, np.nan, np.nan),
        ("knn_classification", "planted", "pca", "control", "no pretraining effect", np.nan, np.nan, np.nan),
        ("knn_classification", "heldout_donors", "pca", "random", "data-limited", 0.1, 0.05, 0.25),  # not planted
    ])
    out = compare_planted(planted_answer(eval_dir), v)
    got = {(r.dataset, r.model, r.strategy): r.recovered for r in out.itertuples()}
    assert got == {("planted", "pca", "random"): True, ("planted", "mae", "random"): False,
                   ("planted", "mae-xs", "random"): False, ("planted", "pca", "geometric_sketch"): False,
                   ("no_signal", "pca", "random"): True, ("no_signal", "mae", "random"): False}
    text = to_text(out)
    assert "data-limited 0.25 [0.1, 0.625]" in text and text.count("NO") == 4


def test_hook_is_empty_without_a_planted_answer(tmp_path, eval_dir):
    v = _verdicts([("knn_classification", "planted", "pca", "random", "data-limited", 0.25, 0.1, 0.5)])
    assert planted_rows(tmp_path / "nothing", v).empty and planted_rows(None, v).empty
    assert len(planted_rows(eval_dir, v)) == 1
    with pytest.raises(ValueError, match="saturation_lo"):
        compare_planted(planted_answer(eval_dir), v.drop(columns="saturation_lo"))


def test_store_provenance_carries_the_answer(tmp_path):
    store = tmp_path / "corpus"
    store.mkdir()
    (store / "store.json").write_text(json.dumps({"provenance": {"planted": sim_planted.answer(PARAMS)}}))
    assert planted_answer(store).set_index("dataset").loc["planted", "saturation"] == pytest.approx(0.25)


def test_impossible_planted_parameters_fail_in_one_line():
    with pytest.raises(ValueError, match="planted_min_cells .* must be at most planted_cells"):
        AtlasParams(planted_states=1, planted_cells=10, planted_min_cells=20)
    with pytest.raises(ValueError, match="half of n_cells"):
        AtlasParams(n_cells=1000, planted_states=2, planted_cells=400)
