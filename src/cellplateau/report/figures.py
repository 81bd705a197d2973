"""Matplotlib figures of a study (Agg backend; each function returns a Figure)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellplateau.analysis.summary import MIN_SEEDS

STRATEGY_COLORS = {"random": "#4c72b0", "celltype_reweighted": "#dd8452", "geometric_sketch": "#55a868",
                   "stratified": "#8172b3", "kcenter": "#937860"}
BASELINE_STYLES = {"baseline:hvg_expression": ("#555555", "--"), "baseline:dataset_pca": ("#999999", ":"),
                   "baseline:majority_class": ("#c44e52", "-.")}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(strategy: str, i: int) -> str:
    return STRATEGY_COLORS.get(strategy, f"C{i + 3}")


def _budget_note(att: pd.DataFrame | None) -> str:
    """``"\nfixed_steps: compute held constant"``: what the panel's training budget held constant across sizes."""
    if att is None or att.empty or not att["budget_policy"].notna().any():
        return ""
    policy = str(att["budget_policy"].dropna().iloc[0])
    if policy == "closed_form":
        return "\n(closed form: no training budget)"
    held = str(att["holds_constant"].dropna().iloc[0]).split(":")[0] if att["holds_constant"].notna().any() else ""
    return f"\n({policy}: {held} held constant)" if held else f"\n({policy})"


def scaling_curves(curves: pd.DataFrame, baselines: pd.DataFrame, *, task: str, dataset: str,
                   controls: pd.DataFrame | None = None, fits: pd.DataFrame | None = None,
                   attribution: pd.DataFrame | None = None):
    """Score vs fraction per strategy (mean +- SE over seeds), one panel per model, log x axis.

    Baselines and each model's untrained control are horizontal lines. With ``attribution``
    (:func:`cellplateau.analysis.verdicts.verdict_table`) every curve's legend entry names its scaling verdict
    and every panel what the model's training budget held constant."""
    plt = _plt()
    c = curves[(curves["task"] == task) & (curves["dataset"] == dataset)]
    families = sorted(c["model"].unique())
    fig, axes = plt.subplots(1, max(len(families), 1), figsize=(4.6 * max(len(families), 1), 3.6), squeeze=False,
                             sharey=True)
    b = baselines[(baselines["task"] == task) & (baselines["dataset"] == dataset)]
    for ax, fam in zip(axes[0], families):
        att = (attribution[(attribution["task"] == task) & (attribution["dataset"] == dataset)
                           & (attribution["model"] == fam)].set_index("strategy")
               if attribution is not None and not attribution.empty else None)
        for i, (strategy, g) in enumerate(c[c["model"] == fam].groupby("strategy")):
            g = g.sort_values("fraction")
            col = _color(strategy, i)
            label = strategy if att is None or strategy not in att.index else \
                f"{strategy}: {att.loc[strategy, 'scaling_verdict']}"
            ax.plot(g["fraction"], g["mean"], marker="o", color=col, label=label)
            se = g["se"].fillna(0).to_numpy()
            ax.fill_between(g["fraction"], g["mean"] - se, g["mean"] + se, color=col, alpha=0.2)
            if fits is not None and not fits.empty:
                f = fits[(fits["task"] == task) & (fits["dataset"] == dataset) & (fits["model"] == fam)
                         & (fits["strategy"] == strategy)]
                if len(f):
                    f = f.iloc[0]
                    xf = np.geomspace(g["fraction"].min(), g["fraction"].max(), 100)
                    ax.plot(xf, f["s_inf"] - f["fit_a"] * (xf * f["corpus_cells"]) ** -f["alpha"], color=col,
                            ls="--", lw=1, alpha=0.8)
        for row in b.itertuples():
            colr, ls = BASELINE_STYLES.get(row.family, ("#777777", "--"))
            ax.axhline(row.value, color=colr, ls=ls, lw=1, label=row.family.removeprefix("baseline:"))
        if controls is not None:
            ctl = controls[(controls["task"] == task) & (controls["dataset"] == dataset) & (controls["model"] == fam)]
            for row in ctl.itertuples():
                ax.axhline(row.value, color="black", ls=(0, (1, 3)), lw=1.2, label="untrained control")
        ax.set_xscale("log")
        ax.set_xlabel("fraction of corpus")
        n_min = c.loc[c["model"] == fam, "n"].min() if "n" in c.columns else np.nan
        few = f"\n! {int(n_min)} seed(s) at some size: low-confidence intervals" if n_min < MIN_SEEDS else ""
        ax.set_title(fam + _budget_note(att) + few, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel(c["metric"].iloc[0] if len(c) else "score")
    fig.suptitle(f"{task} on {dataset}")
    fig.tight_layout()
    return fig


def text_color(rgba) -> str:
    """Black on light cells, white on dark ones (relative luminance of the cell colour, WCAG weights)."""
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(float(c)) for c in rgba[:3])
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179 else "white"


def saturation_heatmap(sat: pd.DataFrame, *, rule: str = "sat_any_seed"):
    """Heatmap of saturation fractions (column ``rule`` of the verdict table): rows (model, task, dataset),
    columns strategies; a cell whose scaling verdict is not data-limited carries it."""
    plt = _plt()
    piv = sat.pivot_table(index=["model", "task", "dataset"], columns="strategy", values=rule, aggfunc="first")
    fig, ax = plt.subplots(figsize=(1.9 * max(len(piv.columns), 1) + 3, 0.45 * max(len(piv), 1) + 1.6))
    data = piv.to_numpy(float)
    data = np.where(data > 1, np.inf, data)          # beyond the corpus (fitted rule): drawn blank, not as 100 %
    im = ax.imshow(np.log10(np.where(np.isfinite(data), data, np.nan)), cmap="viridis_r", aspect="auto",
                   vmin=-2, vmax=0)
    att = (sat.pivot_table(index=["model", "task", "dataset"], columns="strategy", values="scaling_verdict",
                           aggfunc="first").reindex(index=piv.index, columns=piv.columns)
           if "scaling_verdict" in sat.columns else None)
    low = (sat.assign(lc=sat["low_confidence"].astype(float))
           .pivot_table(index=["model", "task", "dataset"], columns="strategy", values="lc", aggfunc="max")
           .reindex(index=piv.index, columns=piv.columns).fillna(0) > 0
           if "low_confidence" in sat.columns else None)
    for (i, j), v in np.ndenumerate(data):
        if np.isfinite(v):
            label = f"{v:.0%}" if v >= 0.01 else f"{v:.1%}"
            a = None if att is None else att.iat[i, j]
            if isinstance(a, str) and a != "data-limited":      # not a data plateau: the point carries a warning
                label += f"\n! {a}"
            if low is not None and low.iat[i, j]:
                label += "\n(low confidence)"
            ax.text(j, i, label, ha="center", va="center", color=text_color(im.cmap(im.norm(np.log10(v)))),
                    fontsize=7 if "\n" in label else 8)
    ax.set_xticks(range(len(piv.columns)), piv.columns, rotation=20, ha="right")
    ax.set_yticks(range(len(piv)), [" / ".join(map(str, ix)) for ix in piv.index], fontsize=8)
    cbar = fig.colorbar(im, ax=ax)
    cbar.set_label("log10 saturation fraction")
    name = rule.removeprefix("saturation_").removeprefix("sat_").replace("_", "-")
    ax.set_title(f"learning saturation point ({name} rule)"
                 + ("\n! = not a data plateau (its scaling verdict)" if att is not None else "")
                 + ("; low confidence = fewer than 3 seeds per size" if low is not None and low.to_numpy().any()
                    else ""), fontsize=10)
    fig.tight_layout()
    return fig


def composition_plot(comp: pd.DataFrame, metrics=("rare_cell_share", "rare_types_covered", "type_entropy")):
    """Subset composition vs fraction per strategy."""
    plt = _plt()
    metrics = [m for m in metrics if m in set(comp["metric"])]
    fig, axes = plt.subplots(1, max(len(metrics), 1), figsize=(4.2 * max(len(metrics), 1), 3.3), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for i, (strategy, g) in enumerate(comp[comp["metric"] == m].groupby("strategy")):
            g = g.sort_values("fraction")
            ax.plot(g["fraction"], g["value"], marker="o", color=_color(strategy, i), label=strategy)
        ax.set_xscale("log")
        ax.set_xlabel("fraction of corpus")
        ax.set_title(m)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def diversity_plot(div: pd.DataFrame, metrics=("vendi_rbf", "inverse_simpson", "rare_types_covered", "type_gini",
                                               "hausdorff")):
    """Subset diversity vs fraction per strategy (mean over seeds)."""
    return composition_plot(div, metrics=metrics)


def pareto_plot(table: pd.DataFrame, *, task: str, dataset: str):
    """Mean score vs training FLOPs (log) per model and strategy; the Pareto frontier joined by a line."""
    plt = _plt()
    t = table[(table["task"] == task) & (table["dataset"] == dataset) & table["flops"].notna()]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    markers = dict(zip(sorted(t["model"].unique()), "osD^v<>p*"))
    for i, ((model, strategy), g) in enumerate(t.groupby(["model", "strategy"])):
        ax.scatter(g["flops"], g["mean"], color=_color(strategy, i), marker=markers.get(model, "o"), s=28,
                   label=f"{model} / {strategy}", alpha=0.85)
    front = t[t["pareto"]].sort_values("flops")
    ax.plot(front["flops"], front["mean"], color="black", lw=1, label="Pareto frontier")
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (analytical estimate)")
    ax.set_ylabel(t["metric"].iloc[0] if len(t) else "score")
    ax.set_title(f"score vs compute: {task} on {dataset}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def _count(conv: pd.Series) -> int:
    return int((conv.dropna() == 1).sum())


def trajectories(traj: pd.DataFrame):
    """Training trajectories against cells seen, one column of panels per model: the validation loss (top) and
    the embedding probe's kNN accuracy (bottom), one line per trained model coloured by its subset fraction
    (log scale). Titles count the models whose loss, probe and both (``converged``) plateaued."""
    plt = _plt()
    models = sorted(traj["model"].unique())
    n = max(len(models), 1)
    fig, axes = plt.subplots(2, n, figsize=(4.6 * n, 6.4), squeeze=False, sharex="col")
    cmap = plt.get_cmap("viridis")
    fr = traj["fraction"].astype(float)
    lo, hi = np.log10(max(fr.min(), 1e-6)), np.log10(max(fr.max(), 1e-6))
    probe = traj["probe"] if "probe" in traj.columns else pd.Series(np.nan, index=traj.index)
    for col, model in enumerate(models):
        g = traj[traj["model"] == model]
        for _, run in g.groupby("model_key"):
            run = run.sort_values("step")
            f = float(run["fraction"].iloc[0])
            c = cmap(0.5 if hi == lo else (np.log10(f) - lo) / (hi - lo))
            x = run["cells_seen"].clip(lower=1)
            axes[0][col].plot(x, run["val_loss"], color=c, lw=1, alpha=0.7)
            p = probe.loc[run.index]
            if p.notna().any():
                axes[1][col].plot(x[p.notna()], p[p.notna()], color=c, lw=1, alpha=0.7)
        per = g.groupby("model_key")
        conv = per["converged"].first()
        loss = per["loss_converged"].first() if "loss_converged" in g.columns else conv
        axes[0][col].set_title(f"{model}: {_count(conv)} of {len(conv)} converged\n(loss plateaued: "
                               f"{_count(loss)})", fontsize=10)
        if probe.loc[g.index].notna().any():
            pc = per["probe_converged"].first() if "probe_converged" in g.columns else pd.Series(dtype=float)
            axes[1][col].set_title(f"probe plateaued: {_count(pc)} of {len(conv)}", fontsize=10)
        else:
            axes[1][col].set_title("no probe recorded (skipped: no labels)", fontsize=10)
        for row in (0, 1):
            axes[row][col].set_xscale("log")
            axes[row][col].grid(alpha=0.3)
        axes[1][col].set_xlabel("cells seen in training")
    axes[0][0].set_ylabel("validation loss")
    axes[1][0].set_ylabel("probe: kNN accuracy")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(lo, hi))
    fig.colorbar(sm, ax=axes.ravel().tolist(), label="log10 subset fraction")
    return fig


def depth_heatmap(grid: pd.DataFrame, *, task: str, dataset: str):
    """Subset size x sequencing depth heatmaps of the mean headline score, one panel per (model, strategy)."""
    plt = _plt()
    g = grid[(grid["task"] == task) & (grid["dataset"] == dataset)]
    panels = list(g.groupby(["model", "strategy"], observed=True))
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(3.6 * max(len(panels), 1), 3.4), squeeze=False)
    lo, hi = (g["mean"].min(), g["mean"].max()) if len(g) else (0, 1)
    for ax, ((model, strategy), h) in zip(axes[0], panels):
        piv = h.pivot_table(index="fraction", columns="depth", values="mean").sort_index(ascending=False)
        piv = piv[sorted(piv.columns)]
        data = piv.to_numpy(float)
        ax.imshow(data, cmap="viridis", aspect="auto", vmin=lo, vmax=hi)
        for (i, j), v in np.ndenumerate(data):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.3f}", ha="center", va="center", color="w", fontsize=7)
        ax.set_xticks(range(len(piv.columns)), [f"{d:g}" for d in piv.columns])
        ax.set_yticks(range(len(piv.index)), [f"{f:g}" for f in piv.index])
        ax.set_xlabel("sequencing depth (share of UMIs)")
        ax.set_title(f"{model} / {strategy}", fontsize=9)
    axes[0][0].set_ylabel("fraction of corpus")
    fig.suptitle(f"{g['metric'].iloc[0] if len(g) else 'score'}: {task} on {dataset}")
    fig.tight_layout()
    return fig


def depth_law_plot(grid: pd.DataFrame, law: pd.DataFrame, *, task: str, dataset: str):
    """Score vs depth (log axis) per fraction, one panel per (model, strategy); dashed: the fitted log law."""
    plt = _plt()
    g = grid[(grid["task"] == task) & (grid["dataset"] == dataset)]
    panels = list(g.groupby(["model", "strategy"], observed=True))
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(3.8 * max(len(panels), 1), 3.3), squeeze=False,
                             sharey=True)
    for ax, ((model, strategy), h) in zip(axes[0], panels):
        for i, (frac, k) in enumerate(h.groupby("fraction")):
            k = k.sort_values("depth")
            ax.plot(k["depth"], k["mean"], marker="o", color=f"C{i}", label=f"{frac:g}")
            f = law[(law["task"] == task) & (law["dataset"] == dataset) & (law["model"] == model)
                    & (law["strategy"] == strategy) & (law["fraction"] == frac)]
            if len(f):
                d = np.geomspace(k["depth"].min(), 1.0, 20)
                ax.plot(d, f["s_full_depth"].iloc[0] + f["slope_per_doubling"].iloc[0] / np.log(2) * np.log(d),
                        ls="--", color=f"C{i}", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("sequencing depth")
        ax.set_title(f"{model} / {strategy}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(title="fraction", fontsize=7)
    fig.suptitle(f"depth law: {task} on {dataset}")
    fig.tight_layout()
    return fig
