"""Fixtures: the reference study's published tables (read where they lie, never copied) and a tiny external
study written as CSV and Parquet."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "reference_published" / "mapping.yaml"


def reference_dir() -> Path | None:
    path = Path(os.environ.get("CELLPLATEAU_REFERENCE_RESULTS", REPO.parent / "shared" / "data" / "reference_results"))
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def reference_results() -> Path:
    path = reference_dir()
    if path is None:
        if os.environ.get("CELLPLATEAU_REQUIRE_REALDATA"):
            pytest.fail("CELLPLATEAU_REQUIRE_REALDATA is set but the reference's published results are missing "
                        "(set CELLPLATEAU_REFERENCE_RESULTS or place ../shared/data/reference_results)")
        pytest.skip("reference results not found: set CELLPLATEAU_REFERENCE_RESULTS or place "
                    "../shared/data/reference_results")
    return path


@pytest.fixture(scope="session")
def reference_mapping(reference_results):
    from cellplateau.results_import.mapping import load_mapping

    return load_mapping(EXAMPLE).model_copy(update={"root": reference_results})


def tiny_mapping(**over) -> dict:
    """A mapping of :func:`write_tiny` 's tables."""
    m = {
        "study": "tiny", "corpus_cells": 1000,
        "model": {"pattern": r"^(?P<model>[^_]+)_eval"}, "models": {"A": {"family": "fam", "size": "s"},
                                                                     "B": {"family": "fam", "size": "l"}},
        "strategy": {"column": "method", "rename": {"randomsplits": "random"}},
        "fraction": {"column": "percentage", "unit": "percentage"}, "seed": "seed",
        "dataset": {"column": "dataset"}, "controls": {"column": "percentage", "values": [0]},
        "baselines": [{"name": "pca", "files": "baseline_*.csv"}],
        "tasks": {"knn_classification": {"files": ["*_eval.csv", "*_eval.parquet", "baseline_*.csv"],
                                         "headline": "micro_f1",
                                         "metrics": {"micro_f1": {"higher_is_better": True},
                                                     "loss": {"higher_is_better": False}}}},
    }
    m.update(over)
    return m


def write_tiny(folder: Path, mapping: dict | None = None) -> Path:
    """Model A as CSV (a leading index column), model B as Parquet, a baseline CSV, and the mapping YAML;
    sizes 1, 10, 100 % (3 seeds each, seeds per size as the reference numbers them) and untrained seeds 30-32."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for pct, seeds in ((1, [0, 1, 2]), (10, [5, 6, 7]), (100, [25, 26, 27]), (0, [30, 31, 32])):
        for s in seeds:
            score = 0.4 if pct == 0 else 0.6 + 0.1 * np.log10(pct) / 2
            rows.append({"micro_f1": score + rng.normal(0, 0.005), "loss": 1 - score, "percentage": pct, "seed": s,
                         "method": "randomsplits", "dataset": "d1"})
    a = pd.DataFrame(rows)
    a.to_csv(folder / "A_eval.csv")                            # with the pandas index column
    a.assign(micro_f1=a["micro_f1"] + 0.02).to_parquet(folder / "B_eval.parquet")
    pd.DataFrame([{"micro_f1": 0.9, "loss": 0.1, "percentage": -1, "seed": -1, "method": "na", "dataset": "d1"}]).to_csv(
        folder / "baseline_pca.csv")
    path = folder / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping or tiny_mapping(), sort_keys=False))
    return path
