"""Planted truth in the synthetic atlas: a known data-limited saturation point and a task with no signal.

Planted states (``AtlasParams.planted_states`` = S > 0)
-----------------------------------------------------
Each planted state ``s`` has its own program: ``planted_genes`` (m) genes, drawn among the better-expressed
half of the vocabulary, up-regulated by ``delta`` log-units in every cell of the state. Exactly
``planted_cells`` (C) corpus cells carry each state, spread uniformly over cells (so over cell types,
datasets and donors): any subset holding a share ``f`` of the corpus holds about ``f x C`` cells of each
state, whichever cell types a strategy favours.

The program is weak per cell and per gene, so a model can only find its direction from enough of its
cells. For PCA this is the spiked-covariance (BBP) detection limit: a spike of strength
``l = q S2`` (``q = C / n_cells`` the state's prevalence, ``S2`` the program's squared per-cell
signal-to-noise ratio, ``~ 4 m delta^2`` for log1p expression of genes with NB inverse dispersion ~4) is
found from ``n`` cells of ``d`` genes only when ``n l^2 > d``, i.e. from ``N = q n = d / (q S2^2)`` cells
of the state. The simulator inverts this for the requested ``planted_min_cells`` (N):
``delta = PLANTED_SCALE * (n_genes / (q N))^(1/4) / (2 sqrt(m))``, the constant calibrated on the real
pipeline (PCA on HVGs + kNN) so that the kNN score of the ``planted`` evaluation set reaches its plateau
at N cells of each state. The planted saturation fraction is therefore ``f* = N / C``, with the tolerance
``PLANTED_TOLERANCE`` (a factor either way).

Evaluation
----------
``planted.h5ad`` holds ``eval_cells`` cells from two new datasets (new donors) on a corpus assay, every
state equally common (label column ``planted_state``: ``none``, ``P0``, ``P1``, ...), cell types drawn as
in the corpus, and a ``no_signal`` column of three labels drawn independently of everything: no model,
trained or not, can do better than chance on it. ``planted.json`` beside it records the answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cellplateau._hashing import rng_for
from cellplateau._io import atomic_write_json

if TYPE_CHECKING:
    from cellplateau.corpus.simulate import AtlasParams

PLANTED_SCALE = 3.5
"""Calibration constant of the program strength (see the module docstring)."""
PLANTED_TOLERANCE = 2.5
"""The planted saturation fraction is recovered when the found one lies within this factor of ``f*``."""
PROGRAM_ON = 0.25
"""Share of its state's program genes a planted cell switches on (its own random draw)."""
NO_SIGNAL_CLASSES = ("A", "B", "C")
LABEL_KEY = "planted_state"
UNPLANTED = "unplanted"
"""Label of cells in no planted state (not ``none``: that reads as unlabelled and would be dropped)."""
NO_SIGNAL_KEY = "no_signal"
EVAL_NAME = "planted"


@dataclass(frozen=True)
class Planted:
    """The planted programs: ``genes`` (S, m) indices and their common log-unit effect ``delta``."""

    genes: np.ndarray
    signs: np.ndarray
    delta: float
    names: tuple[str, ...]

    def logits(self, state_of_cell: np.ndarray, n_genes: int, *, rng: np.random.Generator) -> np.ndarray:
        """Extra log-expression (cells, genes) of cells with ``state_of_cell`` (-1: no planted state): each cell
        of a state switches on its own random share ``PROGRAM_ON`` of the state's program genes."""
        out = np.zeros((len(state_of_cell), n_genes))
        for s in range(len(self.names)):
            rows = np.flatnonzero(state_of_cell == s)
            on = rng.random((len(rows), self.genes.shape[1])) < PROGRAM_ON
            out[np.ix_(rows, self.genes[s])] = on * (self.delta * self.signs[s])
        return out

    def label(self, state_of_cell: np.ndarray) -> np.ndarray:
        names = np.asarray((UNPLANTED,) + self.names)
        return names[np.asarray(state_of_cell) + 1]


def planted_delta(p: AtlasParams) -> float:
    """Log-unit effect of each program gene that puts the detection limit at ``planted_min_cells`` cells."""
    q = p.planted_cells / p.n_cells
    return PLANTED_SCALE * (p.n_genes / (q * p.planted_min_cells)) ** 0.25 / (2.0 * PROGRAM_ON
                                                                          * math.sqrt(p.planted_genes))


def planted_programs(p: AtlasParams, base: np.ndarray) -> Planted:
    """The planted programs (seeded from ``p.seed``; a stream of their own, so the rest of the atlas is as without)."""
    rng = rng_for(p.seed, "atlas", "planted", "programs")
    expressed = np.flatnonzero(base >= np.median(base))
    genes = np.vstack([np.sort(rng.choice(expressed, p.planted_genes, replace=False))
                       for _ in range(p.planted_states)])
    # half the genes up, half down: the program is not a change of overall expression (library-size axis)
    signs = np.vstack([rng.permutation(np.resize([1.0, -1.0], p.planted_genes)) for _ in range(p.planted_states)])
    return Planted(genes, signs, planted_delta(p), tuple(f"P{s}" for s in range(p.planted_states)))


def corpus_states(p: AtlasParams) -> np.ndarray:
    """Planted state of every corpus cell (-1: none); exactly ``planted_cells`` cells per state."""
    rng = rng_for(p.seed, "atlas", "planted", "cells")
    state = np.full(p.n_cells, -1, dtype=np.int64)
    chosen = rng.choice(p.n_cells, p.planted_states * p.planted_cells, replace=False)
    state[chosen] = np.repeat(np.arange(p.planted_states), p.planted_cells)
    return state


def check(p: AtlasParams) -> None:
    """One-line errors for impossible planted parameters."""
    if p.planted_states < 0:
        raise ValueError(f"planted_states must be >= 0; got {p.planted_states}")
    if p.planted_states == 0:
        return
    if p.planted_cells < 1 or p.planted_min_cells < 1 or p.planted_genes < 1:
        raise ValueError("planted_cells, planted_min_cells and planted_genes must be >= 1")
    if p.planted_states * p.planted_cells > p.n_cells // 2:
        raise ValueError(f"planted_states x planted_cells ({p.planted_states * p.planted_cells}) must be at most "
                         f"half of n_cells ({p.n_cells})")
    if p.planted_min_cells > p.planted_cells:
        raise ValueError(f"planted_min_cells ({p.planted_min_cells}) must be at most planted_cells "
                         f"({p.planted_cells}): no subset could hold that many")
    if p.planted_genes > p.n_genes // 2:
        raise ValueError(f"planted_genes ({p.planted_genes}) must be at most half of n_genes ({p.n_genes})")


def answer(p: AtlasParams) -> dict:
    """The planted answer, as written to ``planted.json`` and the store's provenance."""
    f_star = p.planted_min_cells / p.planted_cells
    return {
        "planted_states": p.planted_states, "planted_cells": p.planted_cells,
        "planted_min_cells": p.planted_min_cells, "planted_genes": p.planted_genes,
        "delta": planted_delta(p), "eval_set": f"{EVAL_NAME}.h5ad",
        "tasks": [
            {"task": "knn_classification", "label_key": LABEL_KEY, "expected": "data-limited",
             "saturation": f_star, "saturation_lo": f_star / PLANTED_TOLERANCE,
             "saturation_hi": min(1.0, f_star * PLANTED_TOLERANCE),
             "rule": f"f* = planted_min_cells / planted_cells = {p.planted_min_cells} / {p.planted_cells}"},
            {"task": "knn_classification", "label_key": NO_SIGNAL_KEY, "expected": "no pretraining effect",
             "saturation": None, "saturation_lo": None, "saturation_hi": None,
             "rule": f"labels drawn independently of expression; chance = 1/{len(NO_SIGNAL_CLASSES)}"},
        ],
    }


def write_answer(eval_dir: Path, p: AtlasParams) -> Path:
    path = Path(eval_dir) / "planted.json"
    atomic_write_json(path, answer(p))
    return path


def eval_states(rng: np.random.Generator, p: AtlasParams, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Planted state (every state and ``none`` equally common) and ``no_signal`` label of ``n`` eval cells."""
    state = rng.permutation(np.arange(n) % (p.planted_states + 1)) - 1
    no_signal = np.asarray(NO_SIGNAL_CLASSES)[rng.integers(0, len(NO_SIGNAL_CLASSES), n)]
    return state, no_signal
