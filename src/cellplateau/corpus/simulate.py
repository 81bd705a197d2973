"""The synthetic atlas: the embedded default corpus, with the structure that makes diversity matter.

Generative model (all draws seeded from ``AtlasParams.seed``)
------------------------------------------------------------
Genes ``g = 1..G`` have a baseline log-abundance ``b_g ~ N(0, 1.8^2)`` and a negative-binomial
inverse dispersion ``theta_g ~ LogNormal(log 4, 0.5^2)``.

Cell types form a two-level hierarchy: ``L`` lineages, each with 2..``max_subtypes`` subtypes.
Lineage ``l`` up-regulates ``lineage_markers`` genes by ``N(2.0, 0.5^2)`` log-units (and
down-regulates a third as many); subtype ``k`` adds ``subtype_markers`` genes at ``N(1.2, 0.4^2)``.
The expression profile of type ``k`` is ``p_k = softmax(b + lineage effect + subtype effect)``.
Global type abundance follows a power law, ``w_k ∝ rank_k^-abundance_exponent`` over a random
ranking, so a few types dominate and several are rare.

Tissues ``t`` have their own compositions ``pi_t ∝ w * exp(N(0, 1))``, with each type absent from a
tissue with probability 0.3 (a type is always kept in at least one tissue).

Assays ``a`` (technologies) carry a gene-wise multiplicative batch effect
``s_ag ~ LogNormal(0, assay_effect^2)``, a mean library size and a capture efficiency. Datasets ``d``
each use one assay and one tissue, have power-law sizes, their own small gene-wise shift
``LogNormal(0, 0.1^2)`` and 2..6 donors, each with a donor shift ``LogNormal(0, 0.08^2)``.

A cell in dataset ``d``, donor ``j``, of type ``k`` (drawn from ``pi_tissue(d)``) gets a library size
``L ~ LogNormal(log(libsize_a * capture_a), 0.35^2)`` and counts
``x_g ~ NB(mean = L * normalise(p_k * s_ag * s_dg * s_jg)_g, theta_g)`` drawn as Gamma-Poisson.

Planted truth (``planted_states`` > 0): rare states whose weak program a model can learn only from
``planted_min_cells`` of their cells, so the planted saturation fraction is
``planted_min_cells / planted_cells``, and an evaluation set (``planted``) with a label column that
carries no signal (:mod:`cellplateau.corpus.planted`).

Evaluation datasets come from held-out datasets with new donors and new dataset shifts
(``heldout_donors``), from a new assay never seen in the corpus (``new_assay``), and from a
type-balanced draw in which rare types are as common as abundant ones (``balanced_types``): the
same biology under new batch effects, with labels. ``integration`` draws the same type mix in four
new datasets on four different assays (the held-out one included), ``batch`` = dataset.
``perturbation`` is a CRISPR-activation screen in four "cell lines" (one subtype of each of four
lineages; ``cell_line``): ``n_perturbations`` target genes, each raising its own expression by
``N(2.5, 0.3^2)`` log-units and a downstream program of 30 genes by ``N(0, 0.8^2)``; the response in
line ``c`` is the program scaled by ``LogNormal(0, 0.3^2)`` plus a line-specific effect on 10 genes
(``N(0, 0.6^2)``), so responses are shared but context-dependent. Three pairs ``A+B`` add their
programs. A quarter of each line's cells are controls (``perturbation = control``).

The corpus is generated and written in chunks of ``chunk_size`` cells, so a 10 M-cell corpus never
needs its whole matrix in memory; each chunk has its own child seed, so the output is a
deterministic function of the parameters.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellplateau._hashing import rng_for
from cellplateau.corpus.store import CorpusStore, StoreWriter

ASSAY_NAMES = ("10x 3' v2", "10x 3' v3", "10x 5' v1", "Smart-seq2", "10x 5' v2", "Drop-seq")


@dataclass(frozen=True)
class AtlasParams:
    """Parameters of the synthetic atlas (see the module docstring for the model)."""

    n_cells: int = 100_000
    n_genes: int = 2_000
    n_lineages: int = 6
    max_subtypes: int = 5
    abundance_exponent: float = 1.6
    lineage_markers: int = 40
    subtype_markers: int = 15
    n_tissues: int = 5
    n_assays: int = 3
    n_datasets: int = 12
    assay_effect: float = 0.35
    eval_cells: int = 2_500
    chunk_size: int = 10_000
    seed: int = 0
    eval_sets: tuple[str, ...] = field(default=("heldout_donors", "new_assay", "balanced_types", "integration",
                                                "perturbation"))
    n_perturbations: int = 8
    planted_states: int = 0
    """Rare planted states with a weak program each (0: none); see :mod:`cellplateau.corpus.planted`."""
    planted_cells: int = 600
    """Corpus cells of each planted state."""
    planted_min_cells: int = 60
    """Cells of each planted state a subset must hold for a model to learn it (the planted saturation point)."""
    planted_genes: int = 60
    """Genes in each planted state's program."""

    def __post_init__(self) -> None:
        from cellplateau.corpus import planted

        planted.check(self)


@dataclass
class _Biology:
    base: np.ndarray            # (G,)
    theta: np.ndarray           # (G,)
    type_logits: np.ndarray     # (K, G)
    type_names: list[str]
    lineage_of: np.ndarray      # (K,) lineage index
    abundance: np.ndarray       # (K,)
    tissue_comp: np.ndarray     # (T, K)
    assay_shift: np.ndarray     # (A + 1, G); the last row is the held-out assay
    assay_libsize: np.ndarray   # (A + 1,)
    assay_capture: np.ndarray   # (A + 1,)


def _biology(p: AtlasParams) -> _Biology:
    rng = rng_for(p.seed, "atlas", "biology")
    G = p.n_genes
    base = rng.normal(0.0, 1.8, G)
    theta = np.exp(rng.normal(np.log(4.0), 0.5, G))
    logits, names, lineage_of = [], [], []
    for lin in range(p.n_lineages):
        lin_eff = np.zeros(G)
        up = rng.choice(G, p.lineage_markers, replace=False)
        lin_eff[up] = rng.normal(2.0, 0.5, len(up))
        down = rng.choice(G, max(1, p.lineage_markers // 3), replace=False)
        lin_eff[down] -= np.abs(rng.normal(1.0, 0.3, len(down)))
        for sub in range(int(rng.integers(2, p.max_subtypes + 1))):
            sub_eff = np.zeros(G)
            sub_up = rng.choice(G, p.subtype_markers, replace=False)
            sub_eff[sub_up] = rng.normal(1.2, 0.4, len(sub_up))
            logits.append(base + lin_eff + sub_eff)
            names.append(f"L{lin}.T{sub}")
            lineage_of.append(lin)
    K = len(names)
    ranks = rng.permutation(K) + 1
    abundance = ranks.astype(float) ** -p.abundance_exponent
    abundance /= abundance.sum()
    comp = abundance[None, :] * np.exp(rng.normal(0, 1.0, (p.n_tissues, K)))
    absent = rng.random((p.n_tissues, K)) < 0.3
    absent[rng.integers(0, p.n_tissues, K), np.arange(K)] = False
    comp[absent] = 0.0
    comp /= comp.sum(1, keepdims=True)
    A = p.n_assays + 1
    assay_shift = np.exp(rng.normal(0, p.assay_effect, (A, G)))
    assay_libsize = rng.choice([1_500.0, 2_500.0, 4_000.0, 6_000.0], A)
    assay_capture = rng.uniform(0.6, 1.0, A)
    return _Biology(base, theta, np.asarray(logits), names, np.asarray(lineage_of), abundance, comp,
                    assay_shift, assay_libsize, assay_capture)


@dataclass
class _Dataset:
    name: str
    assay: int
    tissue: int
    shift: np.ndarray           # (G,)
    donors: list[str]
    donor_shift: np.ndarray     # (n_donors, G)


def _make_dataset(rng: np.random.Generator, name: str, assay: int, tissue: int, G: int) -> _Dataset:
    n_donors = int(rng.integers(2, 7))
    return _Dataset(name, assay, tissue, np.exp(rng.normal(0, 0.1, G)),
                    [f"{name}_donor{j}" for j in range(n_donors)],
                    np.exp(rng.normal(0, 0.08, (n_donors, G))))


def _corpus_datasets(p: AtlasParams) -> tuple[list[_Dataset], np.ndarray]:
    rng = rng_for(p.seed, "atlas", "datasets")
    ds = [_make_dataset(rng, f"dataset{d:02d}", int(rng.integers(0, p.n_assays)),
                        int(rng.integers(0, p.n_tissues)), p.n_genes) for d in range(p.n_datasets)]
    # every assay and tissue appears at least once
    for i in range(min(p.n_assays, len(ds))):
        ds[i].assay = i
    for i in range(min(p.n_tissues, len(ds))):
        ds[-1 - i].tissue = i
    sizes = (rng.permutation(p.n_datasets) + 1.0) ** -0.8
    return ds, sizes / sizes.sum()


def _sample_cells(rng: np.random.Generator, bio: _Biology, datasets: list[_Dataset], ds_of_cell: np.ndarray,
                  type_of_cell: np.ndarray, extra_logits: np.ndarray | None = None
                  ) -> tuple[sp.csr_matrix, pd.DataFrame]:
    n = len(ds_of_cell)
    G = bio.base.shape[0]
    donor_of_cell = np.empty(n, dtype=np.int64)
    mu = np.empty((n, G))
    for d_idx in np.unique(ds_of_cell):
        sel = np.flatnonzero(ds_of_cell == d_idx)
        d = datasets[d_idx]
        donor_of_cell[sel] = rng.integers(0, len(d.donors), len(sel))
        logits = bio.type_logits[type_of_cell[sel]]
        if extra_logits is not None:
            logits = logits + extra_logits[sel]
        prof = np.exp(logits - logits.max(1, keepdims=True)) * bio.assay_shift[d.assay] * d.shift
        prof *= d.donor_shift[donor_of_cell[sel]]
        prof /= prof.sum(1, keepdims=True)
        lib = np.exp(rng.normal(np.log(bio.assay_libsize[d.assay] * bio.assay_capture[d.assay]), 0.35, len(sel)))
        mu[sel] = prof * lib[:, None]
    lam = rng.gamma(shape=bio.theta[None, :], scale=mu / bio.theta[None, :])
    counts = rng.poisson(lam).astype(np.int32)
    obs = pd.DataFrame({
        "cell_type": np.asarray(bio.type_names)[type_of_cell],
        "lineage": np.char.add("L", bio.lineage_of[type_of_cell].astype(str)),
        "tissue": np.char.add("tissue", np.asarray([datasets[d].tissue for d in ds_of_cell]).astype(str)),
        "donor": [datasets[d].donors[j] for d, j in zip(ds_of_cell, donor_of_cell)],
        "dataset": [datasets[d].name for d in ds_of_cell],
        "assay": [ASSAY_NAMES[datasets[d].assay % len(ASSAY_NAMES)] for d in ds_of_cell],
    })
    return sp.csr_matrix(counts), obs


def gene_table(n_genes: int) -> pd.DataFrame:
    """Vocabulary of the synthetic atlas: symbols ``GENE00001`` and Ensembl-like IDs."""
    return pd.DataFrame({
        "gene_symbol": [f"GENE{i:05d}" for i in range(1, n_genes + 1)],
        "gene_id": [f"ENSGSYN{i:011d}" for i in range(1, n_genes + 1)],
    })


def simulate_atlas(path: str | os.PathLike, params: AtlasParams = AtlasParams(), *,
                   eval_dir: str | os.PathLike | None = None, progress=None) -> CorpusStore:
    """Write the synthetic corpus store to ``path`` and its evaluation datasets to ``eval_dir``.

    ``eval_dir`` defaults to ``<path>/../eval``. Each evaluation dataset is an ``.h5ad`` with raw
    counts, ``var_names`` = gene symbols and obs columns ``cell_type``, ``lineage``, ``batch``,
    ``donor``, ``dataset``, ``assay``. Returns the opened store.
    """
    from cellplateau.corpus import planted

    path = Path(path)
    eval_dir = Path(eval_dir) if eval_dir is not None else path.parent / "eval"
    bio = _biology(params)
    datasets, ds_weights = _corpus_datasets(params)
    var = gene_table(params.n_genes)
    n_chunks = -(-params.n_cells // params.chunk_size)
    provenance = {"simulator": "cellplateau.corpus.simulate", "params": asdict(params)}
    programs = states = None
    if params.planted_states:
        programs, states = planted.planted_programs(params, bio.base), planted.corpus_states(params)
        provenance["planted"] = planted.answer(params)
    with StoreWriter(path, var, data_dtype="int32", provenance=provenance) as w:
        for c in range(n_chunks):
            rng = rng_for(params.seed, "atlas", "chunk", c)
            n = min(params.chunk_size, params.n_cells - c * params.chunk_size)
            ds_of_cell = rng.choice(len(datasets), n, p=ds_weights)
            type_of_cell = np.empty(n, dtype=np.int64)
            for d_idx in np.unique(ds_of_cell):
                sel = ds_of_cell == d_idx
                type_of_cell[sel] = rng.choice(len(bio.type_names), int(sel.sum()),
                                               p=bio.tissue_comp[datasets[d_idx].tissue])
            extra = None
            if programs is not None:
                state = states[c * params.chunk_size : c * params.chunk_size + n]
                extra = programs.logits(state, params.n_genes,
                                        rng=rng_for(params.seed, "atlas", "planted", "chunk", c))
            counts, obs = _sample_cells(rng, bio, datasets, ds_of_cell, type_of_cell, extra)
            if programs is not None:
                obs[planted.LABEL_KEY] = programs.label(state)
            w.append(counts, obs)
            if progress is not None:
                progress(c + 1, n_chunks)
    write_eval_sets(eval_dir, params, bio=bio)
    return CorpusStore(path)


def write_eval_sets(eval_dir: str | os.PathLike, params: AtlasParams, *, bio: _Biology | None = None
                    ) -> dict[str, Path]:
    """Write the held-out evaluation datasets as ``<eval_dir>/<name>.h5ad``; return their paths."""
    import anndata as ad

    bio = bio or _biology(params)
    eval_dir = Path(eval_dir)
    eval_dir.mkdir(parents=True, exist_ok=True)
    K = len(bio.type_names)
    out = {}
    if params.planted_states:
        from cellplateau.corpus import planted

        adata = _planted_set(rng_for(params.seed, "atlas", "eval", planted.EVAL_NAME), bio, params)
        adata.uns["source"] = f"cellplateau synthetic atlas, eval set {planted.EVAL_NAME!r}, seed {params.seed}"
        out[planted.EVAL_NAME] = _write_h5ad(adata, eval_dir, planted.EVAL_NAME)
        planted.write_answer(eval_dir, params)
    for name in params.eval_sets:
        rng = rng_for(params.seed, "atlas", "eval", name)
        n = params.eval_cells
        if name in ("integration", "perturbation"):
            maker = _integration_set if name == "integration" else _perturbation_set
            adata = maker(rng, bio, params)
            adata.uns["source"] = f"cellplateau synthetic atlas, eval set {name!r}, seed {params.seed}"
            out[name] = _write_h5ad(adata, eval_dir, name)
            continue
        if name == "new_assay":
            assay = params.n_assays  # the held-out technology
        else:
            assay = int(rng.integers(0, params.n_assays))
        dsets = [_make_dataset(rng, f"eval_{name}_{i}", assay, int(rng.integers(0, params.n_tissues)),
                               params.n_genes) for i in range(2)]
        ds_of_cell = rng.integers(0, len(dsets), n)
        if name == "balanced_types":
            type_of_cell = rng.integers(0, K, n)
        else:
            comp = bio.tissue_comp.mean(0)
            type_of_cell = rng.choice(K, n, p=comp / comp.sum())
        counts, obs = _sample_cells(rng, bio, dsets, ds_of_cell, type_of_cell)
        obs["batch"] = obs["donor"]
        obs.index = [f"{name}_cell{i}" for i in range(n)]
        adata = ad.AnnData(X=counts, obs=obs, var=gene_table(params.n_genes).set_index("gene_symbol"))
        adata.uns["source"] = f"cellplateau synthetic atlas, eval set {name!r}, seed {params.seed}"
        out[name] = _write_h5ad(adata, eval_dir, name)
    return out


def _write_h5ad(adata, eval_dir: Path, name: str) -> Path:
    target = eval_dir / f"{name}.h5ad"
    tmp = eval_dir / f".{name}.h5ad.tmp"
    adata.write_h5ad(tmp)
    os.replace(tmp, target)
    return target


def _integration_set(rng: np.random.Generator, bio: _Biology, params: AtlasParams):
    """Four new datasets on four different assays (the held-out assay included), one type mix."""
    import anndata as ad

    n, K = params.eval_cells, len(bio.type_names)
    n_assays = params.n_assays + 1
    dsets = [_make_dataset(rng, f"integration_batch{i}", i % n_assays, 0, params.n_genes) for i in range(4)]
    ds_of_cell = rng.integers(0, len(dsets), n)
    comp = bio.tissue_comp.mean(0) ** 0.5            # flatter than the corpus: every type has cells
    type_of_cell = rng.choice(K, n, p=comp / comp.sum())
    counts, obs = _sample_cells(rng, bio, dsets, ds_of_cell, type_of_cell)
    obs["batch"] = obs["dataset"]
    obs.index = [f"integration_cell{i}" for i in range(n)]
    return ad.AnnData(X=counts, obs=obs, var=gene_table(params.n_genes).set_index("gene_symbol"))


def _planted_set(rng: np.random.Generator, bio: _Biology, params: AtlasParams):
    """Every planted state (and ``none``) equally common, in two new datasets; plus a ``no_signal`` label."""
    import anndata as ad

    from cellplateau.corpus import planted

    n, K = params.eval_cells, len(bio.type_names)
    programs = planted.planted_programs(params, bio.base)
    assay = int(rng.integers(0, params.n_assays))
    dsets = [_make_dataset(rng, f"eval_planted_{i}", assay, int(rng.integers(0, params.n_tissues)), params.n_genes)
             for i in range(2)]
    ds_of_cell = rng.integers(0, len(dsets), n)
    comp = bio.tissue_comp.mean(0)
    type_of_cell = rng.choice(K, n, p=comp / comp.sum())
    state, no_signal = planted.eval_states(rng, params, n)
    extra = programs.logits(state, params.n_genes, rng=rng)
    counts, obs = _sample_cells(rng, bio, dsets, ds_of_cell, type_of_cell, extra)
    obs[planted.LABEL_KEY] = programs.label(state)
    obs[planted.NO_SIGNAL_KEY] = no_signal
    obs["batch"] = obs["donor"]
    obs.index = [f"planted_cell{i}" for i in range(n)]
    return ad.AnnData(X=counts, obs=obs, var=gene_table(params.n_genes).set_index("gene_symbol"))


def _perturbation_set(rng: np.random.Generator, bio: _Biology, params: AtlasParams):
    """A CRISPRa-like screen in four cell lines with shared but context-dependent responses."""
    import anndata as ad

    G, n = params.n_genes, params.eval_cells
    lineages = np.unique(bio.lineage_of)[:4]
    line_types = [int(np.flatnonzero(bio.lineage_of == lin)[0]) for lin in lineages]
    n_lines = len(line_types)
    symbols = gene_table(G)["gene_symbol"].to_numpy()
    targets = rng.choice(G, params.n_perturbations, replace=False)
    programs = np.zeros((params.n_perturbations, G))
    for i, t in enumerate(targets):
        genes = rng.choice(G, 30, replace=False)
        programs[i, genes] = rng.normal(0.0, 0.8, 30)
        programs[i, t] = rng.normal(2.5, 0.3)
    scale = np.exp(rng.normal(0.0, 0.3, (n_lines, params.n_perturbations)))
    line_effect = np.zeros((n_lines, params.n_perturbations, G))
    for c in range(n_lines):
        for i in range(params.n_perturbations):
            genes = rng.choice(G, 10, replace=False)
            line_effect[c, i, genes] = rng.normal(0.0, 0.6, 10)
    singles = [(i,) for i in range(params.n_perturbations)]
    pairs = [(0, 1), (2, 3), (4, 5)][: params.n_perturbations // 2]
    conditions = [()] + singles + pairs
    weights = np.array([len(conditions) / 3.0] + [1.0] * (len(conditions) - 1))   # a quarter controls
    line_of_cell = rng.integers(0, n_lines, n)
    cond_of_cell = rng.choice(len(conditions), n, p=weights / weights.sum())
    extra = np.zeros((n, G))
    for j, cond in enumerate(conditions):
        for i in cond:
            sel = cond_of_cell == j
            extra[sel] += scale[line_of_cell[sel], i, None] * programs[i] + line_effect[line_of_cell[sel], i]
    dset = _make_dataset(rng, "perturbation_screen", 0, 0, G)
    type_of_cell = np.asarray(line_types)[line_of_cell]
    counts, obs = _sample_cells(rng, bio, [dset], np.zeros(n, dtype=np.int64), type_of_cell, extra)
    names = ["control"] + ["+".join(symbols[targets[i]] for i in cond) for cond in conditions[1:]]
    obs["perturbation"] = np.asarray(names)[cond_of_cell]
    obs["cell_line"] = np.char.add("line", line_of_cell.astype(str))
    obs["batch"] = obs["cell_line"]
    obs.index = [f"perturbation_cell{i}" for i in range(n)]
    return ad.AnnData(X=counts, obs=obs, var=gene_table(G).set_index("gene_symbol"))
