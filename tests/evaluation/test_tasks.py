"""Fine-tuned classification and perturbation response on the tiny atlas: they learn, and nothing held out leaks."""

import numpy as np

from cellplateau.evaluation.datasets import load_eval_dataset
from cellplateau.evaluation.finetune import FineTuneConfig
from cellplateau.evaluation.finetune import baselines as ft_baselines
from cellplateau.evaluation.finetune import evaluate as ft_evaluate
from cellplateau.evaluation.perturbation import (
    PerturbationConfig,
    held_out_splits,
    mean_change_prediction,
    predict_held_out,
    target_genes,
)
from cellplateau.evaluation.perturbation import baselines as pert_baselines
from cellplateau.evaluation.perturbation import evaluate as pert_evaluate
from cellplateau.evaluation.splits import stratified_three_way


def _dataset_pca(ds, k=16):
    from cellplateau.corpus.features import gram_pca, log1p_cp10k

    X = log1p_cp10k(ds.counts, dense=True)
    mean, comps, _ = gram_pca([X], X.shape[1], k)
    return ((X - mean) @ comps.T).astype(np.float32)


def test_three_way_split_is_stratified_disjoint_and_seeded():
    labels = np.array(["a"] * 50 + ["b"] * 20 + ["c"] * 2)
    tr, va, te = stratified_three_way(labels, (0.8, 0.1, 0.1), seed=4)
    assert not (set(tr) & set(va) or set(tr) & set(te) or set(va) & set(te))
    assert (labels[te] == "a").sum() == 5 and (labels[va] == "b").sum() == 2 and "c" not in labels[tr]
    np.testing.assert_array_equal(te, stratified_three_way(labels, (0.8, 0.1, 0.1), seed=4)[2])


def test_finetuning_learns_and_full_finetuning_trains_the_encoder(tiny_atlas, tiny_store, one_torch_thread):
    from cellplateau.models.mae import MAEConfig, MAEModel

    ds = load_eval_dataset(tiny_atlas / "eval" / "heldout_donors.h5ad", tiny_store.var, name="h")
    config = FineTuneConfig(n_splits=1, hidden=32, max_epochs=60, full_max_epochs=40, encoder_lr_ratio=1.0,
                            baseline_hvg=200)
    informative = ft_evaluate(_dataset_pca(ds), ds, config, seed=1)
    noise = ft_evaluate(np.random.default_rng(0).normal(size=(ds.n_cells, 16)).astype(np.float32), ds, config, 1)
    assert informative["micro_f1"] > noise["micro_f1"] + 0.3
    assert any(k.startswith("f1:") for k in informative)
    model = MAEModel(MAEConfig(hidden=[64], latent=16))
    model.untrained_control(tiny_store.n_genes, seed=0)
    frozen_random = model.embed(ds.counts)
    scores = ft_evaluate(frozen_random, ds, config, seed=1, model=model)
    # the untrained encoder is a poor frozen feature map; tuning it end to end fixes that
    assert scores["full_micro_f1"] > scores["micro_f1"] + 0.1, scores
    base = ft_baselines(ds, config, seed=1)
    assert base["l1_logistic_hvg"]["micro_f1"] > base["majority_class"]["micro_f1"] + 0.3


def test_perturbation_split_leaks_nothing_held_out(tiny_atlas, tiny_store, one_torch_thread):
    ds = load_eval_dataset(tiny_atlas / "eval" / "perturbation.h5ad", tiny_store.var, name="p",
                           perturbation_key="perturbation", context_key="cell_line")
    config = PerturbationConfig(held_out=["line1"], n_genes=100, epochs=5, min_cells=5)
    (split,) = held_out_splits(ds.perturbations, ds.contexts, ds.control_value, config)
    held = np.flatnonzero(ds.contexts == "line1")
    assert not set(split.train) & set(held) and set(split.controls) <= set(held)
    assert set(np.concatenate(list(split.perturbed.values()))) == set(held) - set(split.controls)
    emb = _dataset_pca(ds)
    genes = target_genes(ds, split, config.n_genes)
    pred = predict_held_out(emb, ds, split, genes, config, seed=3)
    mean = mean_change_prediction(ds, split, genes, config)
    # scramble every held-out perturbed cell (expression and embedding): nothing fitted may change
    perturbed = np.concatenate(list(split.perturbed.values()))
    counts = ds.counts.tolil(copy=True)
    own = ds.own_counts.tolil(copy=True)
    rng = np.random.default_rng(0)
    for r in perturbed:
        counts[r] = rng.poisson(5, counts.shape[1])
        own[r] = rng.poisson(5, own.shape[1])
    emb2 = emb.copy()
    emb2[perturbed] = rng.normal(0, 100, (len(perturbed), emb.shape[1]))
    from dataclasses import replace

    ds2 = replace(ds, counts=counts.tocsr(), own_counts=own.tocsr())
    np.testing.assert_array_equal(genes, target_genes(ds2, split, config.n_genes))
    pred2 = predict_held_out(emb2, ds2, split, genes, config, seed=3)
    mean2 = mean_change_prediction(ds2, split, genes, config)
    for p in pred:
        np.testing.assert_array_equal(pred[p], pred2[p])
        np.testing.assert_array_equal(mean[p], mean2[p])


def test_perturbation_baselines_are_not_oracles_and_the_head_learns(tiny_atlas, tiny_store, one_torch_thread):
    ds = load_eval_dataset(tiny_atlas / "eval" / "perturbation.h5ad", tiny_store.var, name="p",
                           perturbation_key="perturbation", context_key="cell_line")
    config = PerturbationConfig(n_genes=150, epochs=30, min_cells=5)
    base = pert_baselines(ds, config, seed=0)
    assert base["no_change"]["direction_top_de"] == 0 and np.isnan(base["no_change"]["pearson_delta"])
    mean = base["train_mean_change"]
    assert 0.3 < mean["pearson_delta"] < 0.95            # transfers, but responses are context-dependent
    assert mean["n_held_out_contexts"] == 4
    scores = pert_evaluate(_dataset_pca(ds), ds, config, seed=0)
    assert scores["n_perturbations"] == mean["n_perturbations"]
    assert scores["pearson_delta_top_de"] > 0.3 and scores["direction_top_de"] > 0.6
