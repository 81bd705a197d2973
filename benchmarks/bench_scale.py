"""A multi-million-cell corpus end to end within a memory bound: SOMA ingestion, selection, streaming.

Usage: python benchmarks/bench_scale.py [--cells 5000000] [--out benchmarks/results/scale.md]

Each stage runs in its own process under ``/usr/bin/time -v``, which reports its peak resident memory
(``Maximum resident set size``, file-backed pages of memory maps included) and wall time:

1. ``h5ad``: write the synthetic corpus (benchmarks/_corpus.py) as five ``.h5ad`` files;
2. ``ingest``: many-h5ad ingestion (``ingest_h5ad``, 50 k cells a chunk) of all of it into a corpus store;
3. ``soma`` / ``ingest_soma``: a TileDB-SOMA experiment with the Census's layout (``--soma-cells``, 1 M by
   default to keep the full run short; ``--stages soma,ingest_soma --soma-cells 5000000`` for the full size),
   ingested with an obs value filter by ``ingest_soma``;
4. ``select``: out-of-core PCA (HVGs and basis on a 50 k-cell sample, every cell projected in chunks), geometric
   sketch of 1 % on the 50 PCs (ours), random and cell-type re-weighted 10 % subsets;
5. ``stream``: one full epoch of the random 10 % subset as dense float32 batches of 1,024 (``BatchStream``).

The memory bound of the issue is 4 GB per stage.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
BOUND_GB = 4.0


SOMA_CELLS = int(os.environ.get("CELLPLATEAU_BENCH_SOMA_CELLS", 1_000_000))


def stage_h5ad(cache: Path, n: int) -> str:
    import _corpus

    paths = _corpus.write_h5ads(cache / f"h5ad_{n}", n)
    return f"{len(paths)} files written"


def stage_ingest(cache: Path, n: int) -> str:
    from cellplateau.corpus.ingest import ingest_h5ad

    paths = sorted((cache / f"h5ad_{n}").glob("part*.h5ad"))
    rep = ingest_h5ad(cache / f"ingested_{n}", paths, chunk_size=50_000)
    return f"{len(paths)} h5ad files -> {rep.n_cells:,} cells x {rep.n_genes:,} genes"


def stage_soma(cache: Path, n: int) -> str:
    import _corpus

    m = min(SOMA_CELLS, n)
    _corpus.write_soma(cache / f"soma_{m}", m)
    return f"{m:,}-cell experiment written"


def stage_ingest_soma(cache: Path, n: int) -> str:
    from cellplateau.corpus.soma import SomaSource, ingest_soma

    m = min(SOMA_CELLS, n)
    rep = ingest_soma(cache / f"ingested_soma_{m}", SomaSource(uri=str(cache / f"soma_{m}")),
                      obs_filter='is_primary_data == True and assay != "10x 5\' v1"', chunk_size=50_000)
    return f"SOMA -> {rep.n_cells:,} cells x {rep.n_genes:,} genes (obs filter drops one assay)"


def stage_select(cache: Path, n: int) -> str:
    from cellplateau.corpus.store import CorpusStore
    from cellplateau.selection import STRATEGIES
    from cellplateau.selection._plaid import sketch
    from cellplateau.selection.base import SelectionContext
    from cellplateau.selection.sketch_embedding import compute_sketch_embedding

    store = CorpusStore(cache / f"ingested_{n}")
    t = time.perf_counter()
    emb_path = cache / f"ingested_{n}_pcs.npy"
    compute_sketch_embedding(store, emb_path, n_pcs=50, n_hvg=1000, pca_sample=50_000, rng=np.random.default_rng(0))
    t_pca = time.perf_counter() - t
    emb = np.load(emb_path, mmap_mode="r")
    t = time.perf_counter()
    idx = sketch(emb, n // 100, rng=np.random.default_rng(0))
    t_sketch = time.perf_counter() - t
    ctx = SelectionContext(obs=store.obs)
    t = time.perf_counter()
    rand = STRATEGIES["random"].select(ctx, n // 10, STRATEGIES["random"].config(), np.random.default_rng(0))
    t_rand = time.perf_counter() - t
    t = time.perf_counter()
    cfg = STRATEGIES["celltype_reweighted"].config()
    STRATEGIES["celltype_reweighted"].select(ctx, n // 10, cfg, np.random.default_rng(0))
    t_rw = time.perf_counter() - t
    np.save(cache / f"ingested_{n}_random10.npy", rand)
    return (f"PCA+projection {t_pca:.0f} s, sketch of {len(idx):,} in {t_sketch:.1f} s, random {t_rand:.2f} s, "
            f"re-weighted {t_rw:.2f} s")


def stage_stream(cache: Path, n: int) -> str:
    from cellplateau.corpus.store import CorpusStore
    from cellplateau.models._loader import BatchStream

    store = CorpusStore(cache / f"ingested_{n}")
    rows = np.load(cache / f"ingested_{n}_random10.npy")
    n_batches = len(rows) // 1024
    with BatchStream(store, rows, batch_size=1024, rng=np.random.default_rng(0), layout="dense") as s:
        next(s)                                  # warm-up: loads the compiled kernel
        t = time.perf_counter()
        for _ in range(n_batches - 1):
            next(s)
        dt = time.perf_counter() - t
    return f"one epoch of {n_batches * 1024:,} cells at {(n_batches - 1) * 1024 / dt:,.0f} cells/s"


STAGES = {"h5ad": stage_h5ad, "ingest": stage_ingest, "soma": stage_soma, "ingest_soma": stage_ingest_soma,
          "select": stage_select, "stream": stage_stream}


def _run(stage: str, cache: Path, n: int) -> tuple[float, float, str]:
    """``(peak RSS GB, wall s, summary)`` of one stage in a fresh process under /usr/bin/time -v."""
    cmd = ["/usr/bin/time", "-v", sys.executable, __file__, "--stage", stage, "--cells", str(n), "--cache", str(cache)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"stage {stage} failed:\n{res.stdout}\n{res.stderr[-4000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", res.stderr).group(1)
    secs = sum(float(x) * 60**i for i, x in enumerate(reversed(wall.split(":"))))
    summary = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
    return rss_kb / 1024**2, secs, summary


def main() -> None:
    from _results import publish

    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=5_000_000)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "cellplateau-bench")
    ap.add_argument("--stage", choices=list(STAGES))
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages to run, in order")
    ap.add_argument("--soma-cells", type=int, default=SOMA_CELLS, help="cells of the SOMA experiment")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.md"))
    args = ap.parse_args()
    if args.stage:
        print(STAGES[args.stage](args.cache, args.cells), flush=True)
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    os.environ["CELLPLATEAU_BENCH_SOMA_CELLS"] = str(args.soma_cells)        # read by the stage processes
    rows = []
    for stage in args.stages.split(","):
        rss, secs, summary = _run(stage, args.cache, args.cells)
        rows.append((stage, rss, secs, summary))
        print(f"{stage}: peak RSS {rss:.2f} GB, {secs:.0f} s; {summary}", flush=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}"
    lines = [f"# {args.cells / 1e6:g} M-cell corpus within {BOUND_GB:g} GB ({when}; {machine})", "",
             "Each stage in its own process; peak RSS from `/usr/bin/time -v` (memory-mapped pages included).", "",
             "| stage | peak RSS (GB) | within bound | wall (s) | result |", "|---|---|---|---|---|"]
    for stage, rss, secs, summary in rows:
        lines.append(f"| {stage} | {rss:.2f} | {'yes' if rss < BOUND_GB else 'NO'} | {secs:.0f} | {summary} |")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
