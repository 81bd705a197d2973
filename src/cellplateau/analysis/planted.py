"""The planted answer beside the found one: what the simulator planted (``planted.json``) against the verdicts.

``planted_answer`` reads the answer the synthetic atlas wrote (``<eval>/planted.json``, or the corpus store's
provenance); ``compare_planted`` puts it beside a verdict table (columns of
``cellplateau.analysis.summary.verdict_table``: task, dataset, model, strategy, scaling_verdict, saturation,
saturation_lo, saturation_hi) and says per curve whether the tool recovered it; ``planted_rows`` is the hook
a report calls (an empty frame when the study planted nothing).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

ANSWER_COLUMNS = ["dataset", "label_key", "task", "expected", "saturation", "saturation_lo", "saturation_hi",
                  "rule"]
COMPARISON_COLUMNS = ["task", "dataset", "model", "strategy", "expected", "planted_saturation", "planted_lo",
                      "planted_hi", "scaling_verdict", "saturation", "saturation_lo", "saturation_hi", "recovered"]


def _read(folder: Path) -> dict | None:
    for path in (folder / "planted.json", folder / "eval" / "planted.json", folder.parent / "eval" / "planted.json"):
        if path.is_file():
            return json.loads(path.read_text())
    store = folder / "store.json"
    if store.is_file():
        return json.loads(store.read_text()).get("provenance", {}).get("planted")
    return None


def planted_answer(folder: str | os.PathLike, *, datasets: dict[str, str] | None = None) -> pd.DataFrame:
    """The planted answer of a synthetic atlas: one row per planted task (``ANSWER_COLUMNS``).

    ``folder``: the evaluation folder holding ``planted.json``, the corpus store (its provenance), or a folder
    above ``eval/``. ``datasets`` maps a label column to the study's dataset name that evaluates it (default:
    ``planted_state`` -> ``planted``, ``no_signal`` -> ``no_signal``). Empty when nothing was planted.
    """
    from cellplateau.corpus.planted import EVAL_NAME, LABEL_KEY, NO_SIGNAL_KEY

    raw = _read(Path(folder))
    if not raw:
        return pd.DataFrame(columns=ANSWER_COLUMNS)
    names = {LABEL_KEY: EVAL_NAME, NO_SIGNAL_KEY: NO_SIGNAL_KEY, **(datasets or {})}
    rows = [{**{k: t.get(k) for k in ANSWER_COLUMNS if k != "dataset"},
             "dataset": names.get(t["label_key"], t["label_key"])} for t in raw["tasks"]]
    out = pd.DataFrame(rows, columns=ANSWER_COLUMNS)
    for col in ("saturation", "saturation_lo", "saturation_hi"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    return out


def _recovered(expected: str, row: pd.Series) -> bool:
    if row["scaling_verdict"] != expected:
        return False
    if expected != "data-limited":
        return True
    sat, lo, hi = row["saturation"], row["planted_lo"], row["planted_hi"]
    inside = bool(np.isfinite(sat) and lo <= sat <= hi)
    # the tool's own interval must contain the planted point too, where it gives one
    if np.isfinite(row["saturation_lo"]) and np.isfinite(row["saturation_hi"]):
        inside &= bool(row["saturation_lo"] <= row["planted_saturation"] <= row["saturation_hi"])
    return inside


def compare_planted(planted: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """Each verdict-table curve on a planted (task, dataset) beside its planted answer (``COMPARISON_COLUMNS``).

    ``recovered`` is true when the verdict is the expected one and, for a planted saturation point, the found
    saturation lies inside the planted tolerance and the found interval (when it has one) holds the planted
    point. Untrained controls and baselines are not curves and are left out.
    """
    need = {"task", "dataset", "model", "strategy", "scaling_verdict", "saturation", "saturation_lo",
            "saturation_hi"}
    missing = sorted(need - set(verdicts.columns))
    if missing:
        raise ValueError(f"verdict table lacks column(s) {missing}")
    ans = planted.rename(columns={"saturation": "planted_saturation", "saturation_lo": "planted_lo",
                                  "saturation_hi": "planted_hi"})[["task", "dataset", "expected",
                                                                   "planted_saturation", "planted_lo",
                                                                   "planted_hi"]]
    curves = verdicts[~verdicts["strategy"].isin(["control", "baseline"])]
    out = curves[sorted(need)].merge(ans, on=["task", "dataset"], how="inner")
    for col in ("saturation", "saturation_lo", "saturation_hi", "planted_saturation", "planted_lo", "planted_hi"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    out["recovered"] = [_recovered(e, r) for e, (_, r) in zip(out["expected"], out.iterrows())]
    return out[COMPARISON_COLUMNS].sort_values(["dataset", "model", "strategy"]).reset_index(drop=True)


def planted_rows(folder: str | os.PathLike | None, verdicts: pd.DataFrame, *,
                 datasets: dict[str, str] | None = None) -> pd.DataFrame:
    """The report's hook: the comparison table for a study whose corpus or evaluation folder has a planted
    answer, else an empty frame (``COMPARISON_COLUMNS``)."""
    if folder is None:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    answer = planted_answer(folder, datasets=datasets)
    if answer.empty:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    return compare_planted(answer, verdicts)


def to_text(table: pd.DataFrame) -> str:
    """A small plain-text table of ``compare_planted``'s rows (for the terminal and the report)."""
    if table.empty:
        return ""

    def frac(v) -> str:
        return "-" if not np.isfinite(v) else f"{v:g}"

    lines = [f"{'dataset':<12} {'model':<10} {'strategy':<20} {'planted':<28} {'found':<34} ok"]
    for _, r in table.iterrows():
        planted = r["expected"] + ("" if not np.isfinite(r["planted_saturation"]) else
                                   f" {frac(r['planted_saturation'])} [{frac(r['planted_lo'])}, "
                                   f"{frac(r['planted_hi'])}]")
        found = str(r["scaling_verdict"]) + ("" if not np.isfinite(r["saturation"]) else
                                             f" {frac(r['saturation'])} [{frac(r['saturation_lo'])}, "
                                             f"{frac(r['saturation_hi'])}]")
        lines.append(f"{r['dataset']:<12} {r['model']:<10} {r['strategy']:<20} {planted:<28} {found:<34} "
                     f"{'yes' if r['recovered'] else 'NO'}")
    return "\n".join(lines)
