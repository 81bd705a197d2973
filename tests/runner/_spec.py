"""A tiny study spec over the shared tiny atlas."""

from __future__ import annotations

from pathlib import Path

import yaml


def tiny_spec(atlas: Path, out: Path, *, mae_steps: int = 40, fractions=(0.05, 0.3, 1.0), replicates: int = 2,
              workers: int = 1, pca_only: bool = False, execution: dict | None = None) -> Path:
    spec = {
        "name": "tiny", "seed": 11, "output_dir": str(out),
        "corpus": {"path": str(atlas / "corpus")},
        "selection": {"strategies": [{"name": "random"}, {"name": "celltype_reweighted"},
                                     {"name": "geometric_sketch", "n_pcs": 10, "n_hvg": 200, "pca_sample": 2000}],
                      "fractions": list(fractions), "replicates": replicates},
        "families": [{"name": "pca", "n_components": 10, "n_hvg": 200},
                     {"name": "mae", "hidden": [64], "latent": 16, "batch_size": 128,
                      "budget": {"policy": "fixed_steps", "steps": mae_steps}}],
        "evaluation": {"datasets": [{"name": "balanced", "path": str(atlas / "eval" / "balanced_types.h5ad")}],
                       "tasks": [{"name": "knn_classification", "baseline_hvg": 200}]},
        "execution": {"workers": workers, "device": "cpu", "threads": 1, **(execution or {})},
    }
    if pca_only:
        spec["families"] = spec["families"][:1]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path
