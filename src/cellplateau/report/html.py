"""A self-contained HTML report (figures embedded as base64 PNG), rebuilt from results alone.

Beside ``report.html`` it writes every figure as PNG and SVG (``figures/``) and every table as CSV
(``tables/``). The overview answers the study's questions in sentences generated from the numbers.
"""

from __future__ import annotations

import base64
import html
import io
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cellplateau._io import atomic_dir, atomic_write_bytes, atomic_write_text
from cellplateau.analysis import glance, summary
from cellplateau.report import figures
from cellplateau.report import glance as glance_view

CSS = """body{font-family:system-ui,sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}th,td{border:1px solid #ddd;padding:3px 8px;
text-align:right}th{background:#f4f4f4;cursor:pointer;user-select:none}th:hover{background:#e8e8e8}
img{max-width:100%}h2{border-bottom:1px solid #ddd;padding-bottom:4px}.note{color:#555;font-size:14px}
.overview li{margin:0.3em 0}table.glance td,table.glance th{text-align:left;vertical-align:top}
table.glance{font-size:14px}table.glance td.group{font-weight:600}
.glance .evidence{color:#666;font-size:12px;max-width:22em}
details.more{margin:1em 0 2em}details.more summary{cursor:pointer;font-weight:600}"""

SORT_JS = """document.querySelectorAll('table.sortable').forEach(function(t){
t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
var rows=Array.from(t.tBodies[0].rows),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
rows.sort(function(a,b){var x=a.cells[i].innerText,y=b.cells[i].innerText,nx=parseFloat(x),ny=parseFloat(y);
var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?c:-c;});
rows.forEach(function(r){t.tBodies[0].appendChild(r);});});});});"""


class _Writer:
    """Collects figures (embedded + written beside the report) and tables (HTML + CSV)."""

    def __init__(self, folder: Path | None, bar=None):
        self.folder = folder
        self.n = 0
        self.bar = bar

    def img(self, fig, name: str) -> str:
        import matplotlib.pyplot as plt

        self.n += 1
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.n:02d}_{name}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        if self.folder is not None:
            atomic_write_bytes(self.folder / "figures" / f"{slug}.png", buf.getvalue())
            svg = io.BytesIO()
            fig.savefig(svg, format="svg", bbox_inches="tight")
            atomic_write_bytes(self.folder / "figures" / f"{slug}.svg", svg.getvalue())
        plt.close(fig)
        if self.bar is not None:
            self.bar.advance(note=name)
        data = base64.b64encode(buf.getvalue()).decode()
        return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'

    def table(self, df: pd.DataFrame, name: str, floatfmt: str = "{:.3f}") -> str:
        if self.folder is not None:
            atomic_write_text(self.folder / "tables" / f"{name}.csv", df.to_csv(index=False))
        return df.to_html(index=False, float_format=lambda v: floatfmt.format(v), na_rep="–", border=0,
                          classes="sortable")


def _pct(v: float) -> str:
    if not np.isfinite(v):
        return "–"
    if v > 1:
        return ">100%"
    return f"{v:.1%}" if v < 0.1 else f"{v:.0%}"


def _ci(est: float, lo: float, hi: float, pct: bool) -> str:
    f = _pct if pct else (lambda v: f"{v:.3f}" if np.isfinite(v) else "–")
    if not np.isfinite(est):
        return "–"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f(est)
    return f"{f(est)} [{f(lo)}, {f(hi)}]"


def interval_table(fits: pd.DataFrame) -> pd.DataFrame:
    out = fits[["model", "strategy", "task", "dataset", "best_model", "scaling_supported", "saturating"]].copy()
    for k, pct in (("s_inf", False), ("alpha", False)):
        out[k] = [_ci(e, lo, hi, pct) for e, lo, hi in zip(fits[k], fits[f"{k}_lo"], fits[f"{k}_hi"])]
    for col in ("min_seeds", "low_confidence"):
        if col in fits.columns:
            out[col] = fits[col].to_numpy()
    return out


def rules_table(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Every curve's saturation point under all three rules side by side (95 % intervals), the rule the study
    uses, both verdicts and their evidence."""
    out = verdicts[["task", "dataset", "model", "strategy", "metric"]].copy()
    for rule in ("seed_mean", "any_seed", "fitted"):
        k = f"sat_{rule}"
        out[rule.replace("_", "-")] = [_ci(e, lo, hi, True) for e, lo, hi in
                                       zip(verdicts[k], verdicts[f"{k}_lo"], verdicts[f"{k}_hi"])]
    for col in ("saturation_rule", "scaling_verdict", "convergence", "min_seeds", "value_verdict",
                "anchored_best", "anchored_resolution", "budget_policy", "holds_constant", "cells_seen_smallest",
                "cells_seen_largest", "eval_overlap", "scaling_evidence", "value_evidence"):
        out[col] = verdicts[col].to_numpy()
    return out


def _warning(r) -> str:
    """`` (compute-limited: evidence)`` after a saturation point that is not a data plateau; low confidence too."""
    out = ""
    att = getattr(r, "scaling_verdict", None)
    if isinstance(att, str) and att != "data-limited":
        out += f" (<b>{html.escape(att)}</b>: {html.escape(str(r.scaling_evidence))})"
    if getattr(r, "low_confidence", False):
        out += " (low confidence: fewer than 3 seeds per size)"
    return out


def overview(fits: pd.DataFrame, vs_random: pd.DataFrame, verdicts: pd.DataFrame, rule_text: str) -> list[str]:
    """Sentences answering: where does it saturate, how sure are we, does scaling hold, does diversity beat size."""
    out = []
    fit_by = {k: g for k, g in fits.groupby(["model", "task", "dataset"])} if not fits.empty else {}
    for (model, task, dataset), g in verdicts.groupby(["model", "task", "dataset"]):
        sat = "; ".join(f"{r.strategy} {_ci(r.saturation, r.saturation_lo, r.saturation_hi, True)}"
                        + _warning(r) for r in g.itertuples())
        f = fit_by.get((model, task, dataset), pd.DataFrame(columns=["strategy", "scaling_supported", "saturating"]))
        sup = f[f["scaling_supported"].astype(bool)]["strategy"].tolist()
        sat_fit = f[f["saturating"].astype(bool)]["strategy"].tolist()
        scaling = ("no strategy scales beyond a constant (AIC)" if not sup else
                   f"data scaling is supported for {', '.join(sup)}"
                   + (f", saturating (power law preferred) for {', '.join(sat_fit)}" if sat_fit else
                      ", with no saturation resolved within the sizes studied"))
        out.append(f"<b>{html.escape(model)}</b>, {html.escape(task)} on {html.escape(dataset)}: saturation "
                   f"({html.escape(rule_text)}; 95 % bootstrap interval) at {sat}; {scaling}.")
    if not vs_random.empty:
        smallest = vs_random[vs_random["fraction"] == vs_random["fraction"].min()]
        for (model, strategy), g in smallest.groupby(["model", "strategy"]):
            up = g["higher_is_better"].astype(bool) if "higher_is_better" in g.columns else True
            wins = int(np.where(up, g["difference_lo"] > 0, g["difference_hi"] < 0).sum())
            losses = int(np.where(up, g["difference_hi"] < 0, g["difference_lo"] > 0).sum())
            diffs = ", ".join(f"{r.dataset} {r.difference:+.3f} [{r.difference_lo:+.3f}, {r.difference_hi:+.3f}]"
                              for r in g.itertuples())
            out.append(f"At {_pct(float(g['fraction'].iloc[0]))} of the corpus, <b>{html.escape(strategy)}</b> vs "
                       f"random with {html.escape(model)}: better on {wins}, worse on {losses} of {len(g)} datasets "
                       f"(difference in the headline metric, 95 % interval: {html.escape(diffs)}).")
    return out


def glance_section(tables: dict[str, pd.DataFrame], rule_text: str = "") -> str:
    """The report's first screen: per model, whether more data helps and where it stops, whether the model is
    worth using against the in-dataset baselines, whether diversity helps at the smallest size, and the cheapest
    configuration within 1 % of the best."""
    body = glance_view.to_html(tables)
    if not body:
        return ""
    return ("<h2>The answer at a glance</h2><p class='note'>Two questions per task, dataset and model, kept apart. "
            "<b>Does more pretraining data help, and where does it stop?</b> The random-subset curve's saturation "
            f"point ({html.escape(rule_text)}; 95 % bootstrap interval over seeds) and its scaling verdict, judged "
            "against the family's own untrained control and seed noise, never against baselines: data-limited, "
            "still rising, compute-limited (not converged, or cells seen flat), capacity-limited (a larger size "
            "lifts the plateau) or no pretraining effect. <b>Is the model worth using?</b> Its best size against "
            "the strongest in-dataset baseline (a PCA, HVG space or logistic regression fitted on the evaluation "
            "data; perturbation: a split-half replicate), anchored 0 at the floor (untrained control; perturbation: "
            "the no-change / mean-change predictor) and 1 at that ceiling, ± its spread over seeds. Then each "
            "diversity-aware strategy minus random at the smallest size (headline metric; green: better, red: "
            "worse, the interval excluding 0), and the configuration with the fewest training FLOPs whose mean "
            "score is within 1 % of the best (it lies on the compute frontier).</p>" + body)


def render(results: pd.DataFrame, *, title: str, folder: Path | None = None, n_boot: int = 1000,
           progress: bool = False, adaptive: dict | None = None, analysis=None,
           planted: pd.DataFrame | None = None) -> str:
    """The report's HTML from a results table alone; ``analysis``: an
    :class:`~cellplateau.analysis.settings.AnalysisSpec` (the saturation rule, threshold, headline metrics);
    ``planted``: the answer a synthetic atlas planted (:func:`cellplateau.analysis.planted.planted_answer`),
    shown beside what the analysis found."""
    from cellplateau._progress import progress as progress_bar

    with progress_bar("report", total=None, unit="steps", enabled=progress) as bar:
        return _render(results, title=title, folder=folder, n_boot=n_boot, bar=bar, adaptive=adaptive,
                       analysis=analysis, planted=planted)


def _planted_text(r) -> str:
    want = r["expected"] + (f" at {_pct(r['planted_saturation'])} [{_pct(r['planted_lo'])}, "
                            f"{_pct(r['planted_hi'])}]" if np.isfinite(r["planted_saturation"]) else "")
    return f"planted: {want}; {'recovered' if r['recovered'] else 'NOT recovered'}"


def _render(results: pd.DataFrame, *, title: str, folder: Path | None, n_boot: int, bar,
            adaptive: dict | None = None, analysis=None, planted: pd.DataFrame | None = None) -> str:
    from cellplateau.analysis.headline import headlines
    from cellplateau.analysis.settings import AnalysisSpec
    from cellplateau.analysis.verdicts import value_table, verdict_table
    from cellplateau.runner.aggregate import COLUMNS

    analysis = analysis or AnalysisSpec()
    results = results.reindex(columns=list(dict.fromkeys([*COLUMNS, *results.columns])))  # an imported table
    heads = headlines(results, analysis.headline)
    w = _Writer(folder, bar)
    bar.update(note="tables")
    curves = summary.curves(results, heads)
    n_groups = curves.groupby(["task", "dataset"]).ngroups
    from cellplateau.analysis.depth import has_depth_axis

    per_group = 2 + (2 if has_depth_axis(results) else 0)     # curves + metrics; depth heatmap + depth law
    bar.update(total=6 + per_group * n_groups + 5)            # tables, then about one step per figure
    base = summary.baselines(results, heads)
    comp = summary.composition(results)
    ctl = summary.controls(results, heads)
    bar.advance(note="scaling fits (bootstrap)")
    fits = summary.scaling_table(results, heads, n_boot=n_boot, threshold=analysis.threshold)
    sat = verdict_table(results, analysis=analysis, metric_for_task=heads, fits=fits, n_boot=n_boot)
    values = value_table(results, analysis=analysis, metric_for_task=heads)
    bar.advance(note="strategies vs random (bootstrap)")
    vs_random = summary.strategy_vs_random(results, heads, n_boot=n_boot)
    bar.advance(note="compute")
    compute = summary.compute_table(results, heads, curves_table=curves)
    usable = (sat.dropna(subset=["best_baseline_score"]).drop_duplicates(["task", "dataset"])
              .rename(columns={"best_baseline": "name", "best_baseline_score": "score"})
              [["task", "dataset", "name", "score"]] if not sat.empty else None)
    at_a_glance = glance.glance_tables(sat, vs_random, compute, usable)
    truth = pd.DataFrame()
    if planted is not None and not planted.empty and not sat.empty:
        from cellplateau.analysis.planted import compare_planted

        truth = compare_planted(planted, sat)
        texts = {(r.task, r.dataset, r.model, r.strategy): _planted_text(r._asdict()) for r in truth.itertuples()}
        g = at_a_glance["saturation"]
        g["planted"] = [texts.get((t, d, m, s_), "") for t, d, m, s_ in
                        zip(g["task"], g["dataset"], g["model"], g["strategy"])]
    if folder is not None:
        for name, table in at_a_glance.items():
            atomic_write_text(folder / "tables" / f"glance_{name}.csv", table.to_csv(index=False))
    bar.advance(note="figures")
    div = results[results["task"] == "diversity"]
    div = div.groupby(["metric", "strategy", "fraction"], observed=True)["value"].mean().reset_index()
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             glance_section(at_a_glance, analysis.rule_text()),
             f"<p class='note'>Built {time.strftime('%Y-%m-%d %H:%M')} from {len(results)} result records. Curves: "
             "mean over seeds ± 1 standard error, dashed lines the fitted power law; horizontal lines: model-free "
             "baselines on the same split and each model's untrained control. Intervals: 95 % bootstrap over seeds "
             f"({n_boot} resamples).</p>"]
    if not truth.empty:
        parts.append("<h2>Planted truth</h2><p class='note'>The synthetic atlas planted these answers (its "
                     "<code>planted.json</code>): a saturation point (cell states a model can learn only from at "
                     "least N corpus cells, so a random subset of share f holds f x C of them: f* = N / C, with the "
                     "tolerance the simulator states) and a label that carries no signal (no pretraining effect). "
                     "Recovered: the verdict matches and, for a saturation point, the found point lies in the "
                     "planted tolerance and the found interval holds the planted point.</p>")
        parts.append(w.table(truth, "planted_truth"))
    if not sat.empty:
        parts.append("<details class='more'><summary>Overview in sentences</summary><ul class='overview'>"
                     + "".join(f"<li>{s}</li>" for s in overview(fits, vs_random, sat, analysis.rule_text()))
                     + "</ul></details>")
        parts.append(f"<h2>Learning saturation points</h2><p class='note'>This report's saturation point: "
                     f"<b>{html.escape(analysis.saturation_rule)}</b> ({html.escape(analysis.rule_text())}; "
                     "<code>analysis.saturation_rule</code> in the spec). The table gives all three rules side by "
                     "side: seed-mean, any-seed (the reference study's notebook: any single seed reaches the bar) "
                     "and fitted (the robust power law reaches the bar of its asymptote; needs 3 sizes), each with "
                     "its 95 % bootstrap interval over seeds, and both verdicts with their evidence.</p>")
        parts.append(w.table(rules_table(sat), "saturation_rules"))
        for rule in ("seed_mean", "any_seed", "fitted"):
            if sat[f"sat_{rule}"].notna().any():
                parts.append(w.img(figures.saturation_heatmap(sat, rule=f"sat_{rule}"), f"saturation_{rule}"))
        parts.append("<h3>Is the model worth using? Anchored score per size</h3><p class='note'>(score − floor) / "
                     "(ceiling − floor): 0 = the floor (untrained control; perturbation: the no-change / "
                     "mean-change predictor), 1 = the strongest in-dataset baseline (perturbation: a split-half "
                     "replicate of the observed response); anchored_sd = its spread across seeds (the resolution); "
                     "margins: the seed mean minus each baseline, positive = the model is better.</p>")
        parts.append(w.table(values, "value_per_size"))
    if not fits.empty:
        parts.append("<h2>Scaling fits</h2><p class='note'>Robust (Huber) fit of "
                     "S(N) = S_inf − A·N<sup>−α</sup> in pretraining cells, compared by AICc with a constant "
                     "(no scaling) and a log-linear model (a lower-is-better metric is fitted negated).</p>")
        parts.append(w.table(interval_table(fits), "scaling_fits"))
    for (task, dataset), _ in curves.groupby(["task", "dataset"]):
        parts.append(f"<h2>{html.escape(task)} — {html.escape(dataset)}</h2>")
        parts.append(w.img(figures.scaling_curves(curves, base, task=task, dataset=dataset, controls=ctl, fits=fits,
                                                  attribution=sat if not sat.empty else None),
                           f"curves_{task}_{dataset}"))
        if not sat.empty:
            att = sat[(sat["task"] == task) & (sat["dataset"] == dataset)]
            parts.append(w.table(att[["model", "strategy", "scaling_verdict", "convergence", "value_verdict",
                                      "holds_constant", "scaling_evidence", "value_evidence"]],
                                 f"verdicts_{task}_{dataset}"))
        wide = curves[(curves["task"] == task) & (curves["dataset"] == dataset)].pivot_table(
            index=["model", "fraction"], columns="strategy", values="mean").reset_index()
        c = ctl[(ctl["task"] == task) & (ctl["dataset"] == dataset)]
        if not c.empty:
            wide = pd.concat([wide, c.assign(fraction=0.0).pivot_table(index=["model", "fraction"], values="value")
                              .rename(columns={"value": "untrained"}).reset_index()], ignore_index=True)
        parts.append(w.table(wide, f"curves_{task}_{dataset}"))
    traj = summary.trajectories(results)
    if not traj.empty:
        parts.append("<h2>Training trajectories</h2><p class='note'>Top: validation loss on a seeded random sample "
                     "of each subset's validation cells, every <code>eval_every</code> steps, against the cells seen "
                     "in training. Bottom, at the same steps: the embedding probe, kNN accuracy (k = 5) of the "
                     "model's embedding on a fixed, seeded, labelled slice of those validation cells "
                     "(<code>probe_label_key</code>, 1,024 cells, half reference, half query). One line per trained "
                     "model, coloured by subset fraction. A model counts as converged when <em>both</em> have "
                     "plateaued: the best of its last <code>converge_window</code> evaluations improved on the best "
                     "before them by less than <code>converge_tol</code> of the whole improvement since step 0 (the "
                     "loss falling, the probe rising); a flat loss alone does not show that the embedding stopped "
                     "improving. Without labels the probe is skipped (the reason is in the model's fit record) and "
                     "the loss alone decides. A curve of models that did not converge is compute-limited, not a "
                     "data plateau.</p>")
        parts.append(w.img(figures.trajectories(traj), "trajectories"))
    metrics = summary.task_metrics(results)
    if not metrics.empty:
        parts.append("<h2>Every metric per task</h2><p class='note'>Models at their largest subset and untrained, "
                     "means over seeds, beside the model-free baselines. Integration: scib-metrics values, unscaled "
                     "(avg_bio = mean of NMI, ARI and label silhouette). Perturbation: held-out context, change "
                     "relative to its controls. gene_overlap: share of the corpus vocabulary the dataset covers."
                     "</p>")
        for (task, dataset), table in metrics.groupby(["task", "dataset"], sort=True):
            table = table.dropna(axis=1, how="all").drop(columns=["task", "dataset"])
            parts.append(f"<h3>{html.escape(task)} — {html.escape(dataset)}</h3>")
            parts.append(w.table(table, f"metrics_{task}_{dataset}", "{:.3f}"))
    if not div.empty or not comp.empty:
        parts.append("<h2>Diversity of the subsets</h2><p class='note'>Vendi score: RBF kernel on corpus PCs, "
                     "bandwidth fixed from a corpus sample (comparable across subsets, not capped by the number "
                     "of PCs); inverse Simpson: effective number of cell types; rare types: below 1 % of the "
                     "corpus; type Gini: inequality of the subset's type proportions over every corpus type (0 = "
                     "even); Hausdorff: largest distance from a corpus cell to its nearest subset cell on the "
                     "corpus PCs, estimated on a seeded corpus sample of hausdorff_sample cells (lower = the "
                     "subset covers the corpus more closely).</p>")
        if not div.empty:
            parts.append(w.img(figures.diversity_plot(div), "diversity"))
            parts.append(w.table(div.pivot_table(index=["strategy", "fraction"], columns="metric",
                                                 values="value").reset_index(), "diversity"))
        if not comp.empty:
            parts.append(w.img(figures.composition_plot(comp), "composition"))
        if not vs_random.empty:
            parts.append("<h3>Diversity-aware strategies vs random at equal size</h3>")
            vr = vs_random.copy()
            vr["difference [95% CI]"] = [f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" for d, lo, hi in
                                         zip(vr["difference"], vr["difference_lo"], vr["difference_hi"])]
            cols = ["task", "dataset", "model", "fraction", "strategy", "difference [95% CI]"]
            cols += [c for c in vr.columns if c.startswith(("vendi", "inverse"))]
            parts.append(w.table(vr[cols], "strategy_vs_random"))
    if compute["flops"].notna().any():
        parts.append("<h2>Compute</h2><p class='note'>Analytical training FLOPs (6 x parameters x examples for dense "
                     "networks, plus attention for transformers); the frontier joins the runs no other run beats "
                     "with fewer FLOPs.</p>")
        for (task, dataset), _ in compute.groupby(["task", "dataset"]):
            parts.append(w.img(figures.pareto_plot(compute, task=task, dataset=dataset), f"pareto_{task}_{dataset}"))
        fit = summary.with_model(results[(results["task"] == "pretraining") & (results["strategy"] != "control")])
        parts.append(w.table(fit.pivot_table(index=["model", "fraction"], columns="metric", values="value",
                                             aggfunc="median").reset_index(), "compute", "{:.4g}"))
    joint = summary.joint_table(results)
    if not joint.empty:
        parts.append("<h2>Model size x data size</h2><p class='note'>Joint fit S(N, P) = E − A·N<sup>−a</sup> − "
                     "B·P<sup>−b</sup> over the cells each model saw in training N (steps × batch size) and parameters "
                     "P; best allocation for a compute budget C = 6·P·N, P within the sizes studied, N at most the "
                     "most cells any run saw.</p>")
        parts.append(w.table(joint, "model_size_x_data_size", "{:.4g}"))
    parts += depth_section(w, results, n_boot=n_boot)
    parts += adaptive_section(w, adaptive)
    if not base.empty:
        parts.append("<h2>Baselines</h2>")
        parts.append(w.table(base, "baselines"))
    parts.append(f"<script>{SORT_JS}</script></body></html>")
    return "\n".join(parts)


def depth_section(w: _Writer, results: pd.DataFrame, *, n_boot: int) -> list[str]:
    """Sequencing depth (``quality.depth``): size x depth heatmaps, the logarithmic depth law beside the power
    law in cells, and the answer at a fixed UMI budget. Empty when the study has one depth."""
    from cellplateau.analysis import depth

    if not depth.has_depth_axis(results):
        return []
    grid = depth.depth_grid(results)
    law = depth.depth_law_table(results, n_boot=n_boot)
    budget = depth.fixed_budget_table(grid)
    parts = ["<h2>Sequencing depth</h2><p class='note'>Pretraining counts thinned binomially to a share of each "
             "cell's UMIs (seeded per cell, applied as batches are read; evaluation data untouched). Depth law "
             "(Gowri, Yin &amp; Klein 2025): S(d) = S<sub>1</sub> + b·ln d, Huber fit per subset size, slope "
             "per doubling of depth with a 95 % bootstrap interval over seeds, AIC against a constant. The "
             "power law in cells is fitted per depth in the sections above (models suffixed @depth).</p>"]
    sentences = depth.budget_sentences(budget) if not budget.empty else []
    if sentences:
        parts.append("<ul class='overview'>" + "".join(f"<li>{html.escape(x)}</li>" for x in sentences) + "</ul>")
    for (task, dataset), _ in grid.groupby(["task", "dataset"]):
        parts.append(f"<h3>{html.escape(task)} — {html.escape(dataset)}</h3>")
        parts.append(w.img(figures.depth_heatmap(grid, task=task, dataset=dataset), f"depth_{task}_{dataset}"))
        if not law.empty:
            parts.append(w.img(figures.depth_law_plot(grid, law, task=task, dataset=dataset),
                               f"depth_law_{task}_{dataset}"))
    if not law.empty:
        parts.append("<h3>Depth law per subset size</h3>")
        parts.append(w.table(law, "depth_law"))
    if not budget.empty:
        parts.append("<h3>Fixed UMI budget: more cells or deeper cells</h3><p class='note'>Each thinned point "
                     "(N cells at depth d) against the full-depth curve at N·d cells (same total UMIs; "
                     "interpolated in log N, never extrapolated). difference = shallow-and-many − deep-and-few; "
                     "an answer needs |difference| &gt; 2 SE.</p>")
        parts.append(w.table(budget, "fixed_umi_budget"))
    return parts


def adaptive_section(w: _Writer, record: dict | None) -> list[str]:
    """An adaptive study's rounds, the units it skipped and the training compute saved (``adaptive.json``)."""
    if not record:
        return []
    saved = record["train_flops_saved_share"]
    parts = [f"<h2>Adaptive selection</h2><p class='note'>Smallest fractions first; after each round every curve "
             f"was fitted and its saturation point bootstrapped ({record['confidence']:.0%} interval); a (model, "
             "strategy) pair got its next fraction only while a curve was unresolved (interval reaching beyond "
             "the largest fraction run, or scaling not told apart from the no-scaling null).</p>",
             f"<p>{len(record['rounds'])} rounds; {len(record['skipped'])} units skipped; training compute "
             f"{record['train_flops_run']:.3g} FLOPs against {record['train_flops_full_grid']:.3g} for the full grid "
             f"(<b>{saved:.0%} saved</b>; analytical estimates).</p>"]
    final = pd.DataFrame([{"model / strategy": k, "fractions run": ", ".join(f"{f:g}" for f in v)}
                          for k, v in record["final_fractions"].items()])
    parts.append(w.table(final, "adaptive_fractions"))
    counts = pd.DataFrame([{"stage": k, "units run": record["units_run"][k], "full grid": n}
                           for k, n in record["units_full_grid"].items() if n])
    parts.append(w.table(counts, "adaptive_units"))
    last = pd.DataFrame(record["rounds"][-1]["curves"]) if record["rounds"] else pd.DataFrame()
    if not last.empty:
        parts.append("<h3>Curves at the last round</h3>")
        parts.append(w.table(last, "adaptive_curves"))
    if record["skipped"]:
        parts.append("<h3>Skipped units</h3>")
        parts.append(w.table(pd.DataFrame(record["skipped"]), "adaptive_skipped"))
    return parts


def _write_folder(folder: Path, results: pd.DataFrame, title: str, *, keep: str = "", progress: bool = False,
                  adaptive: dict | None = None, analysis=None, planted: pd.DataFrame | None = None) -> str:
    """Render into a temporary folder beside ``folder`` and rename it into place, so a full disk or a kill
    mid-way leaves the previous report (or none), never half of one. Subfolders named ``keep*`` of the
    previous report (the comparisons) are carried over."""
    with atomic_dir(folder) as tmp:
        atomic_write_text(tmp / "report.html", render(results, title=title, folder=tmp, progress=progress,
                                                       adaptive=adaptive, analysis=analysis, planted=planted))
        if keep and folder.is_dir():
            for old in folder.glob(f"{keep}*"):
                if old.is_dir() and not (tmp / old.name).exists():
                    shutil.copytree(old, tmp / old.name)
    return str(folder / "report.html")


def study_planted_answer(spec) -> pd.DataFrame | None:
    """The planted answer of a study on a synthetic atlas with planted truth (None otherwise), its datasets named
    as the spec names them (by label column)."""
    from cellplateau.analysis.planted import planted_answer
    from cellplateau.corpus.planted import LABEL_KEY, NO_SIGNAL_KEY

    names = {d.label_key: d.name for d in spec.evaluation.datasets if d.label_key in (LABEL_KEY, NO_SIGNAL_KEY)}
    if not names:
        return None
    answer = planted_answer(spec.corpus.path, datasets=names)
    return answer if not answer.empty else None


def write_report(ctx, results: pd.DataFrame, *, progress: bool = False) -> str:
    """Write ``report/report.html`` with figures and tables beside it (the folder atomically); return its path.
    ``progress``: show the steps (tables, bootstrap, figures) as they are built."""
    record = None
    if ctx.spec.selection.adaptive is not None and (ctx.layout.root / "adaptive.json").exists():
        import json

        record = json.loads((ctx.layout.root / "adaptive.json").read_text())
    return _write_folder(ctx.layout.report_dir, results, f"cellplateau study: {ctx.spec.name}", keep="compare_",
                         progress=progress, adaptive=record, analysis=ctx.spec.analysis,
                         planted=study_planted_answer(ctx.spec))


def write_comparison(ctx_a, ctx_b, results_a: pd.DataFrame, results_b: pd.DataFrame) -> str:
    """One report over two studies: every model is named ``study:model`` so each section compares them."""
    a, b = ctx_a.spec.name, ctx_b.spec.name
    if a == b:
        b = f"{b}(2)"
    both = pd.concat([results_a.assign(family=a + ":" + results_a["family"].astype(str)),
                      results_b.assign(family=b + ":" + results_b["family"].astype(str))], ignore_index=True)
    both.loc[both["strategy"] == "baseline", "family"] = both["family"]
    folder = ctx_a.layout.report_dir / f"compare_{re.sub(r'[^A-Za-z0-9_.-]+', '_', b)}"
    return _write_folder(folder, both, f"cellplateau: {a} vs {b}", analysis=ctx_a.spec.analysis)
