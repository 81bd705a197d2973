"""The answer-first screen: the glance tables (:mod:`cellplateau.analysis.glance`) as text cells, rendered as
the report's opening HTML table and as the rich table ``cellplateau report`` prints. Both read the same cells,
and the terminal reads them from the CSVs the report wrote, so the two never disagree."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

NAMES = ("saturation", "diversity", "cheapest")
HEADERS = ("task / dataset", "model", "saturates at (random, 95 % CI)",
           "does more data help? (vs its untrained control)", "worth using? (vs in-dataset baselines)",
           "diversity vs random at the smallest size (95 % CI)", "cheapest within 1 % of the best")
VERDICT_STYLE = {"better": ("#1a7f37", "green"), "worse": ("#b42318", "red"), "no clear difference": ("#555", "")}


def _pct(v) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.1%}" if v < 0.1 else f"{v:.0%}"


def _flag(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in {"true", "1", "yes"}
    return bool(v) if v is not None and v == v else False


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and not np.isfinite(v)) or (isinstance(v, str) and not v.strip())


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def saturation_text(r) -> str:
    ref = "" if r["strategy"] == "random" else f" ({r['strategy']})"
    sat, lo, hi = _num(r["sat"]), _num(r.get("sat_lo")), _num(r.get("sat_hi"))
    if np.isinf(sat):
        return f"beyond the corpus{ref}"
    if not np.isfinite(sat):
        return "–"
    ci = f" [{_pct(lo)}, {_pct(hi)}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    rule = "" if _missing(r.get("saturation_rule")) else f" ({r['saturation_rule']})"
    return f"{_pct(sat)}{ci}{rule}{ref}"


def attribution_text(r) -> tuple[str, str]:
    """``(scaling verdict, evidence)``; "not assessed" when the analysis gave none."""
    if _missing(r.get("scaling_verdict")):
        return "not assessed", ""
    label = str(r["scaling_verdict"])
    if _flag(r.get("low_confidence")):
        label += " (low confidence)"
    if r.get("convergence") == "unknown":
        label += " (convergence unknown)"
    ev = r.get("scaling_evidence")
    return label, "" if _missing(ev) else str(ev)


def value_text(r) -> tuple[str, str]:
    """``(value verdict, evidence)``."""
    if _missing(r.get("value_verdict")):
        return "not assessed", ""
    ev = r.get("value_evidence")
    return str(r["value_verdict"]), "" if _missing(ev) else str(ev)


def cheapest_text(c) -> str:
    share = f", {c['flops_share']:.0%} of its FLOPs" if np.isfinite(c["flops_share"]) else ""
    same = (c["model"] == c["best_model"] and c["strategy"] == c["best_strategy"]
            and c["fraction"] == c["best_fraction"])
    best = "it is the best" if same else (f"best {c['best_score']:.3f}: {c['best_model']}, {c['best_strategy']} @ "
                                           f"{_pct(c['best_fraction'])}{share}")
    text = f"{c['model']}, {c['strategy']} @ {_pct(c['fraction'])}: {c['score']:.3f} ({best})"
    if not _missing(c.get("baseline_beats_all")):
        text += (f"; but the {c['baseline_beats_all']} baseline ({_num(c['baseline_score']):.3f}) beats every "
                 "pretrained model")
    return text


def cells(tables: dict[str, pd.DataFrame]) -> list[dict]:
    """One dict per (task, dataset, model) row: ``group`` (task / dataset), ``first`` (first row of its group),
    ``model``, ``saturation``, ``attribution`` (the scaling verdict), ``evidence``, ``value``,
    ``value_evidence``, ``diversity`` (list of (text, verdict)), ``cheapest``."""
    sat, div, cheap = (tables[n] for n in NAMES)
    cheap_by = {(r["task"], r["dataset"]): cheapest_text(r) for _, r in cheap.iterrows()}
    div_by: dict[tuple, list] = {}
    for _, r in div.iterrows():
        div_by.setdefault((r["task"], r["dataset"], r["model"]), []).append(
            (f"{r['strategy']} {r['difference']:+.3f} [{r['difference_lo']:+.3f}, {r['difference_hi']:+.3f}] "
             f"@ {_pct(r['fraction'])}: {r['verdict']}", r["verdict"]))
    out, seen = [], set()
    for _, r in sat.sort_values(["task", "dataset", "model"]).iterrows():
        group = (r["task"], r["dataset"])
        label, evidence = attribution_text(r)
        value, value_ev = value_text(r)
        planted = r.get("planted")
        out.append({"group": f"{r['task']} / {r['dataset']}", "first": group not in seen, "model": r["model"],
                    "saturation": saturation_text(r), "attribution": label, "evidence": evidence,
                    "planted": "" if _missing(planted) else str(planted),
                    "value": value, "value_evidence": value_ev,
                    "diversity": div_by.get((*group, r["model"]), []), "cheapest": cheap_by.get(group, "–")})
        seen.add(group)
    return out


def to_html(tables: dict[str, pd.DataFrame]) -> str:
    """The first screen's table (task / dataset and the cheapest configuration span their models' rows)."""
    rows = cells(tables)
    if not rows:
        return ""
    span: dict[str, int] = {}
    for c in rows:
        span[c["group"]] = span.get(c["group"], 0) + 1
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in HEADERS)
    parts = [f"<table class='glance'><thead><tr>{head}</tr></thead><tbody>"]
    for c in rows:
        tds = []
        if c["first"]:
            tds.append(f"<td rowspan='{span[c['group']]}' class='group'>{e(c['group'])}</td>")
        tds.append(f"<td>{e(c['model'])}</td><td>{e(c['saturation'])}</td>")
        title = f" title='{e(c['evidence'])}'" if c["evidence"] else ""
        evidence = f"<div class='evidence'>{e(c['evidence'])}</div>" if c["evidence"] else ""
        planted = f"<div class='evidence'><b>{e(c['planted'])}</b></div>" if c["planted"] else ""
        tds.append(f"<td{title}>{e(c['attribution'])}{planted}{evidence}</td>")
        vev = f"<div class='evidence'>{e(c['value_evidence'])}</div>" if c["value_evidence"] else ""
        tds.append(f"<td>{e(c['value'])}{vev}</td>")
        div = "<br>".join(f"<span style='color:{VERDICT_STYLE[v][0]}'>{e(t)}</span>" for t, v in c["diversity"])
        tds.append(f"<td>{div or '–'}</td>")
        if c["first"]:
            tds.append(f"<td rowspan='{span[c['group']]}'>{e(c['cheapest'])}</td>")
        parts.append("<tr>" + "".join(tds) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def to_rich(tables: dict[str, pd.DataFrame], *, title: str = "the answer at a glance"):
    """The same cells as a rich Table for the terminal."""
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, show_lines=True, expand=False)
    for h in HEADERS:
        t.add_column(h, overflow="fold")
    for c in cells(tables):
        div = Text()
        for i, (text, verdict) in enumerate(c["diversity"]):
            div.append(("\n" if i else "") + text, style=VERDICT_STYLE[verdict][1])
        why = c["attribution"] + (f"\n[{c['planted']}]" if c["planted"] else "") + (
            f"\n{c['evidence']}" if c["evidence"] else "")
        value = c["value"] + (f"\n{c['value_evidence']}" if c["value_evidence"] else "")
        t.add_row(c["group"] if c["first"] else "", c["model"], c["saturation"], why, value,
                  div if c["diversity"] else "–", c["cheapest"] if c["first"] else "")
    return t


def read_tables(report_dir: Path) -> dict[str, pd.DataFrame] | None:
    """The glance tables the report wrote (``tables/glance_*.csv``); None if the report has none."""
    paths = {n: Path(report_dir) / "tables" / f"glance_{n}.csv" for n in NAMES}
    if not all(p.exists() for p in paths.values()):
        return None
    return {n: pd.read_csv(p) for n, p in paths.items()}
