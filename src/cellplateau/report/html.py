"""A self-contained HTML report (figures embedded as base64 PNG), rebuilt from results alone."""

from __future__ import annotations

import base64
import html
import io
import time

import pandas as pd

from cellplateau._io import atomic_write_text
from cellplateau.analysis import summary
from cellplateau.report import figures

CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}th,td{border:1px solid #ddd;padding:3px 8px;
text-align:right}th{background:#f4f4f4}img{max-width:100%}h2{border-bottom:1px solid #ddd;padding-bottom:4px}
.note{color:#555;font-size:14px}"""


def _img(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    return df.to_html(index=False, float_format=lambda v: floatfmt.format(v), na_rep="–", border=0)


def render(results: pd.DataFrame, *, title: str) -> str:
    curves = summary.curves(results)
    base = summary.baselines(results)
    sat = summary.saturation_table(results)
    comp = summary.composition(results)
    ctl = summary.controls(results)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p class='note'>Built {time.strftime('%Y-%m-%d %H:%M')} from {len(results)} result records. "
             "Curves show the mean over seeds with ± 1 standard error; horizontal lines are model-free "
             "baselines on the same split. Saturation: smallest fraction at which some run (reference rule) "
             "or the seed mean (seed-mean rule) exceeds 95 % of the best.</p>"]
    if not sat.empty:
        parts.append("<h2>Learning saturation points</h2>")
        parts.append(_img(figures.saturation_heatmap(sat, rule="saturation_reference")))
        parts.append(_img(figures.saturation_heatmap(sat, rule="saturation_seed_mean")))
        parts.append(_table(sat))
    for (task, dataset), _ in curves.groupby(["task", "dataset"]):
        parts.append(f"<h2>{html.escape(task)} — {html.escape(dataset)}</h2>")
        parts.append(_img(figures.scaling_curves(curves, base, task=task, dataset=dataset, controls=ctl)))
        wide = curves[(curves["task"] == task) & (curves["dataset"] == dataset)].pivot_table(
            index=["model", "fraction"], columns="strategy", values="mean").reset_index()
        c = ctl[(ctl["task"] == task) & (ctl["dataset"] == dataset)]
        if not c.empty:
            wide = pd.concat([wide, c.assign(fraction=0.0).pivot_table(index=["model", "fraction"], values="value")
                              .rename(columns={"value": "untrained"}).reset_index()], ignore_index=True)
        parts.append(_table(wide))
    if not comp.empty:
        parts.append("<h2>Subset composition (diversity)</h2>")
        parts.append("<p class='note'>Rare types: below 1 % of the corpus. types_covered: share of corpus cell "
                     "types with at least one cell in the subset; type_entropy: normalised Shannon entropy.</p>")
        parts.append(_img(figures.composition_plot(comp)))
        parts.append(_table(comp.pivot_table(index=["strategy", "fraction"], columns="metric",
                                             values="value").reset_index()))
    fit = summary.with_model(results[(results["task"] == "pretraining") & (results["strategy"] != "control")])
    if not fit.empty:
        parts.append("<h2>Compute</h2>")
        parts.append("<p class='note'>Median over strategies and seeds. flops: analytical training estimate; "
                     "data_wait_s: time the training loop waited for batches; peak_rss_mb: peak memory of the "
                     "training process.</p>")
        comp_tab = fit.pivot_table(index=["model", "fraction"], columns="metric", values="value",
                                   aggfunc="median").reset_index()
        parts.append(_table(comp_tab, "{:.4g}"))
    if not base.empty:
        parts.append("<h2>Baselines</h2>")
        parts.append(_table(base))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(ctx, results: pd.DataFrame) -> str:
    """Write ``report/report.html`` (atomically) and return its path."""
    path = ctx.layout.report_dir / "report.html"
    atomic_write_text(path, render(results, title=f"cellplateau study: {ctx.spec.name}"))
    return str(path)
