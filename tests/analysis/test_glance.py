"""The answer-first tables: planted inputs with known answers."""

import numpy as np
import pandas as pd

from cellplateau.analysis.glance import cheapest_rows, diversity_rows, glance_tables, saturation_rows
from cellplateau.report.glance import cells, read_tables, to_html, to_rich


def _fits(with_attribution: bool) -> pd.DataFrame:
    rows = []
    for model, sat in (("mae", 0.1), ("pca", 0.25)):
        for strategy, shift in (("celltype_reweighted", 0.5), ("random", 0.0)):
            row = {"task": "knn", "dataset": "d1", "model": model, "strategy": strategy,
                   "saturation": sat + shift, "saturation_lo": sat / 2, "saturation_hi": min(1, sat * 2),
                   "saturating": True, "scaling_supported": True}
            if with_attribution:
                row.update(scaling_verdict="data-limited" if model == "mae" else "capacity-limited",
                           scaling_evidence=f"{model}: validation loss flat", low_confidence=model == "pca",
                           saturation_rule="seed_mean", value_verdict="below the in-dataset baseline",
                           value_evidence="0.80 vs dataset_pca 0.90", convergence="converged")
            rows.append(row)
    return pd.DataFrame(rows)


def test_saturation_uses_the_random_curve_and_never_invents_an_attribution():
    sat = saturation_rows(_fits(with_attribution=False))
    assert list(sat["model"]) == ["mae", "pca"] and set(sat["strategy"]) == {"random"}
    np.testing.assert_allclose(sat["sat"], [0.1, 0.25])
    texts = {c["model"]: (c["saturation"], c["attribution"]) for c in cells(
        {"saturation": sat, "diversity": diversity_rows(pd.DataFrame()), "cheapest": cheapest_rows(pd.DataFrame())})}
    assert texts == {"mae": ("10% [5.0%, 20%]", "not assessed"), "pca": ("25% [12%, 50%]", "not assessed")}
    assert sat["scaling_verdict"].isna().all()


def test_attribution_and_low_confidence_are_shown_when_the_analysis_gives_them():
    sat = saturation_rows(_fits(with_attribution=True))
    tables = {"saturation": sat, "diversity": diversity_rows(pd.DataFrame()), "cheapest": cheapest_rows(pd.DataFrame())}
    by = {c["model"]: c for c in cells(tables)}
    assert by["mae"]["attribution"] == "data-limited" and by["mae"]["evidence"] == "mae: validation loss flat"
    assert by["pca"]["attribution"] == "capacity-limited (low confidence)"
    assert "capacity-limited (low confidence)" in to_html(tables)
    assert by["mae"]["saturation"] == "10% [5.0%, 20%] (seed_mean)"
    assert by["mae"]["value"] == "below the in-dataset baseline" and "dataset_pca" in by["mae"]["value_evidence"]


def test_diversity_verdicts_at_the_smallest_fraction_only():
    vs = pd.DataFrame({"task": "knn", "dataset": "d1", "model": "mae", "fraction": [0.01, 0.01, 0.01, 0.1],
                       "strategy": ["a", "b", "c", "a"], "difference": [0.05, -0.04, 0.01, 0.2],
                       "difference_lo": [0.01, -0.08, -0.02, 0.1], "difference_hi": [0.09, -0.01, 0.03, 0.3]})
    d = diversity_rows(vs)
    assert list(d["strategy"]) == ["a", "b", "c"] and (d["fraction"] == 0.01).all()
    assert list(d["verdict"]) == ["better", "worse", "no clear difference"]


def test_cheapest_configuration_within_one_percent_of_the_best():
    comp = pd.DataFrame({"task": "knn", "dataset": "d1",
                         "model": ["mae", "mae", "mae", "pca", "pca"],
                         "strategy": ["random"] * 5, "fraction": [0.1, 0.5, 1.0, 0.1, 1.0],
                         "mean": [0.80, 0.895, 0.90, 0.70, 0.893], "flops": [1e12, 5e12, 1e13, 1e9, np.nan]})
    c = cheapest_rows(comp).iloc[0]
    # 0.895 >= 0.90 - 0.009 and is cheaper than the best; PCA at 100 % has no FLOPs record and is not considered
    assert (c["model"], c["fraction"], c["best_fraction"]) == ("mae", 0.5, 1.0)
    assert c["flops_share"] == 0.5


def test_tables_round_trip_through_csv_into_the_terminal_table(tmp_path):
    from rich.console import Console

    vs = pd.DataFrame({"task": "knn", "dataset": "d1", "model": "mae", "fraction": [0.01], "strategy": ["a"],
                       "difference": [0.05], "difference_lo": [0.01], "difference_hi": [0.09]})
    comp = pd.DataFrame({"task": "knn", "dataset": "d1", "model": ["mae"], "strategy": ["random"],
                         "fraction": [0.1], "mean": [0.8], "flops": [1e12]})
    tables = glance_tables(_fits(with_attribution=False), vs, comp)
    (tmp_path / "tables").mkdir()
    for name, t in tables.items():
        t.to_csv(tmp_path / "tables" / f"glance_{name}.csv", index=False)
    back = read_tables(tmp_path)
    assert cells(back) == cells(tables)
    console = Console(record=True, width=250)
    console.print(to_rich(back))
    text = console.export_text()
    assert "knn / d1" in text and "not assessed" in text and "a +0.050 [+0.010, +0.090] @ 1.0%: better" in text
    assert "mae, random @ 10%: 0.800 (it is the best)" in text


def test_heatmap_text_is_readable_on_every_colour():
    import matplotlib

    from cellplateau.report.figures import text_color

    cmap = matplotlib.colormaps["viridis_r"]
    def contrast(rgba, text):
        def lum(c):
            lin = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c[:3]]
            return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
        a, b = lum(rgba), (1.0 if text == "white" else 0.0)
        return (max(a, b) + 0.05) / (min(a, b) + 0.05)
    ratios = [contrast(cmap(x), text_color(cmap(x))) for x in np.linspace(0, 1, 101)]
    assert min(ratios) >= 4.5          # WCAG AA for normal text, on every colour of the scale
    assert text_color(cmap(0.0)) == "black" and text_color(cmap(1.0)) == "white"


def test_cheapest_says_so_when_a_baseline_beats_every_pretrained_model():
    comp = pd.DataFrame({"task": "knn", "dataset": "d1", "model": ["mae", "mae"], "strategy": ["random"] * 2,
                         "fraction": [0.1, 1.0], "mean": [0.80, 0.85], "flops": [1e12, 1e13]})
    base = pd.DataFrame({"task": ["knn"], "dataset": ["d1"], "name": ["dataset_pca"], "score": [0.94]})
    row = cheapest_rows(comp, baselines=base).iloc[0]
    assert row["baseline_beats_all"] == "dataset_pca" and row["baseline_score"] == 0.94
    from cellplateau.report.glance import cheapest_text

    assert "dataset_pca baseline (0.940) beats every pretrained model" in cheapest_text(row)
    weak = base.assign(score=0.5)
    assert cheapest_rows(comp, baselines=weak).iloc[0]["baseline_beats_all"] is None


def test_figures_mark_intervals_from_fewer_than_three_seeds():
    import pandas as pd

    from cellplateau.report.figures import saturation_heatmap, scaling_curves

    sat = pd.DataFrame({"model": ["mae", "mae"], "task": ["knn", "knn"], "dataset": ["d", "d"],
                        "strategy": ["random", "kcenter"], "sat_any_seed": [0.1, 0.25],
                        "scaling_verdict": ["data-limited", "data-limited"], "low_confidence": [True, False]})
    texts = [t.get_text() for t in saturation_heatmap(sat).axes[0].texts]
    assert sorted(texts) == ["10%\n(low confidence)", "25%"]
    curves = pd.DataFrame({"task": "knn", "dataset": "d", "model": "mae", "strategy": "random", "metric": "micro_f1",
                           "fraction": [0.1, 1.0], "mean": [0.5, 0.6], "se": [0.01, 0.01], "n": [2, 3]})
    base = pd.DataFrame(columns=["task", "dataset", "family", "value"])
    title = scaling_curves(curves, base, task="knn", dataset="d").axes[0].get_title()
    assert "2 seed(s) at some size: low-confidence intervals" in title
    title = scaling_curves(curves.assign(n=3), base, task="knn", dataset="d").axes[0].get_title()
    assert "low-confidence" not in title
