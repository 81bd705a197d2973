"""Subset selection speed: geometric sketching (geosketch vs our numpy port) and the O(N) strategies.

Usage: python benchmarks/bench_selection.py [--out benchmarks/results/selection.md]

Data: clustered 50-dimensional points with power-law cluster sizes (PC-embedding-like). Times are medians
of ``--repeats`` runs; the ratio is geosketch time / numpy time measured in the same run on the same data.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def _data(n: int, d: int = 50, k: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = np.arange(1, k + 1) ** -1.5
    lab = rng.choice(k, size=n, p=w / w.sum())
    centers = rng.normal(0, 4, (k, d))
    return (centers[lab] + rng.normal(0, 1, (n, d))).astype(np.float32), lab


def _median_time(fn, repeats: int) -> float:
    out = []
    for r in range(repeats):
        t = time.perf_counter()
        fn(r)
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    from geosketch import gs

    from cellplateau.selection._plaid import sketch
    from cellplateau.selection.celltype_reweighted import select_reweighted
    from cellplateau.selection.random import select_random

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20000,100000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/selection.md"))
    args = ap.parse_args()
    lines = ["# Selection speed (2-core CPU, medians)", "",
             "| cells x dims | sketch size | geosketch s | numpy port s | ratio | rare share geosketch / numpy |",
             "|---|---|---|---|---|---|"]
    for n in map(int, args.sizes.split(",")):
        X, lab = _data(n)
        rare = np.isin(lab, np.arange(20, 40))
        for frac in (0.01, 0.1):
            m = int(n * frac)
            t_ref = _median_time(lambda r, X=X, m=m: gs(X, m, replace=False, seed=r), args.repeats)
            t_np = _median_time(lambda r, X=X, m=m: sketch(X, m, rng=np.random.default_rng(r)), args.repeats)
            s_ref = rare[np.array(gs(X, m, replace=False, seed=0))].mean()
            s_np = rare[sketch(X, m, rng=np.random.default_rng(0))].mean()
            lines.append(f"| {n:,} x 50 | {m:,} | {t_ref:.2f} | {t_np:.2f} | {t_ref / t_np:.1f}x | "
                         f"{s_ref:.3f} / {s_np:.3f} (random {rare.mean():.3f}) |")
            print(lines[-1], flush=True)
    n = 10_000_000
    labels = np.random.default_rng(0).choice(164, size=n, p=(w := np.arange(1, 165) ** -1.2) / w.sum())
    t_rand = _median_time(lambda r: select_random(n, n // 100, rng=np.random.default_rng(r)), args.repeats)
    t_rw = _median_time(lambda r: select_reweighted(labels, n // 100, rng=np.random.default_rng(r)), args.repeats)
    lines += ["", "| 10 M cells, 1 % subset | seconds |", "|---|---|",
              f"| random | {t_rand:.2f} |", f"| celltype_reweighted (164 types) | {t_rw:.2f} |"]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
