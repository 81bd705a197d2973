"""The source paper's own statements, checked against the imported numbers (direction-aware).

* ``saturation_at_most: x``: per curve (dataset, model, strategy) of the task's headline metric, the saturation
  point under the mapping's rule (``any_seed``: the smallest size where any seed reaches the threshold of the best
  run; ``seed_mean``: the smallest size whose seed mean reaches the threshold of the best mean); the statement
  holds for the curves at or below ``x``. The ``fitted`` rule needs the report's fits: checked with ``any_seed``.
* ``baseline_beats_pretrained: true|false``: per dataset, the best baseline's mean against the best pretrained
  (model, strategy, size) seed mean; the statement holds on the datasets where the baseline wins (true) or where
  a pretrained model wins (false).
"""

from __future__ import annotations

import pandas as pd

from cellplateau.analysis.saturation import saturation_reference, saturation_seed_mean
from cellplateau.results_import.mapping import ImportMapping, Statement

COLUMNS = ["task", "statement", "check", "rule", "n", "n_hold", "verdict", "detail"]


def _model(r: pd.DataFrame) -> pd.Series:
    size = r["model_size"].astype(str)
    return r["family"].astype(str).where(size.isin(["-", "custom"]), r["family"].astype(str) + "-" + size)


def _rows(results: pd.DataFrame, mapping: ImportMapping, st: Statement) -> tuple[pd.DataFrame, bool]:
    metric = mapping.tasks[st.task].headline
    r = results[(results["task"] == st.task) & (results["metric"] == metric)]
    if st.datasets:
        r = r[r["dataset"].isin(st.datasets)]
    higher = bool(r["higher_is_better"].dropna().iloc[0]) if r["higher_is_better"].notna().any() else True
    r = r.assign(model=_model(r), score=r["value"] if higher else -r["value"])
    return r, higher


def _verdict(n: int, k: int) -> str:
    if n == 0:
        return "no data"
    return "holds" if k == n else ("holds mostly" if k > n / 2 else "does not hold")


def check(results: pd.DataFrame, mapping: ImportMapping, st: Statement) -> dict:
    r, _ = _rows(results, mapping, st)
    rule = mapping.analysis.saturation_rule
    if st.saturation_at_most is not None:
        m = r[~r["strategy"].isin(["control", "baseline"])]
        if st.strategies:
            m = m[m["strategy"].isin(st.strategies)]
        fn = saturation_seed_mean if rule == "seed_mean" else saturation_reference
        used = "seed_mean" if rule == "seed_mean" else "any_seed"
        sats = {k: fn(g["fraction"].to_numpy(float), g["score"].to_numpy(float),
                      threshold=mapping.analysis.threshold)
                for k, g in m.groupby(["dataset", "model", "strategy"], sort=True)}
        ok = {k: v for k, v in sats.items() if v <= st.saturation_at_most + 1e-12}
        worst = sorted(((v, k) for k, v in sats.items() if k not in ok), reverse=True)[:3]
        detail = "; ".join(f"{' / '.join(k)}: {v:.0%}" for v, k in worst)
        return {"task": st.task, "statement": st.text, "check": f"saturation <= {st.saturation_at_most:.0%}",
                "rule": used, "n": len(sats), "n_hold": len(ok), "verdict": _verdict(len(sats), len(ok)),
                "detail": ("latest: " + detail) if detail else ""}
    won, n, lines = 0, 0, []
    for dataset, g in r.groupby("dataset", sort=True):
        base = g[g["strategy"] == "baseline"].groupby("family")["score"].mean()
        pre = g[~g["strategy"].isin(["control", "baseline"])]
        if base.empty or pre.empty:
            continue
        means = pre.groupby(["model", "strategy", "fraction"])["score"].mean()
        n += 1
        beats = bool(base.max() > means.max())
        won += beats == st.baseline_beats_pretrained
        sign = 1 if g["higher_is_better"].dropna().all() else -1
        lines.append(f"{dataset}: {base.idxmax().removeprefix('baseline:')} {sign * base.max():.3f} vs "
                     f"{means.idxmax()[0]} {sign * means.max():.3f}")
    claim = "a baseline beats every pretrained model" if st.baseline_beats_pretrained else \
        "a pretrained model beats every baseline"
    return {"task": st.task, "statement": st.text, "check": claim + " (per dataset)", "rule": "best mean",
            "n": n, "n_hold": won, "verdict": _verdict(n, won), "detail": "; ".join(lines)}


def check_statements(results: pd.DataFrame, mapping: ImportMapping) -> pd.DataFrame:
    """One row per statement: what was checked, under which rule, on how many curves or datasets it holds."""
    return pd.DataFrame([check(results, mapping, st) for st in mapping.statements], columns=COLUMNS)


def as_rich(table: pd.DataFrame, *, title: str):
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=title, show_lines=True)
    for col in ("task", "statement", "check", "holds for", "verdict"):
        t.add_column(col, overflow="fold")
    for r in table.itertuples():
        t.add_row(escape(r.task), escape(r.statement), escape(f"{r.check} [{r.rule}]"), f"{r.n_hold} of {r.n}",
                  r.verdict)
    return t


__all__ = ["as_rich", "check_statements"]
