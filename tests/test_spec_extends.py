"""`extends`: a spec that starts from another one (the spike-in side experiment extends the reference)."""

import pytest
import yaml

from cellplateau.spec import SpecError, load_spec


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


BASE = {"name": "base", "seed": 3, "output_dir": "out", "corpus": {"path": "corpus", "expected_cells": 100,
                                                                  "expected_genes": 10},
        "selection": {"strategies": [{"name": "random"}], "fractions": [0.5, 1.0], "replicates": 2},
        "families": [{"name": "pca"}],
        "evaluation": {"datasets": [{"name": "d", "path": "data/d.h5ad"}], "tasks": [{"name": "knn_classification"}]}}


def test_extends_merges_mappings_replaces_lists_and_keeps_the_base_paths(tmp_path):
    base = _write(tmp_path / "a" / "base.yaml", BASE)
    child = _write(tmp_path / "b" / "child.yaml", {"extends": "../a/base.yaml", "name": "child",
                                                     "output_dir": "out2", "selection": {"fractions": [0.25]}})
    spec = load_spec(child)
    assert spec.name == "child" and spec.seed == 3
    assert spec.selection.fractions == [0.25] and spec.selection.replicates == 2       # merged key by key
    assert str(spec.evaluation.datasets[0].path) == str(tmp_path / "a" / "data" / "d.h5ad")  # base's folder
    assert str(spec.output_dir) == str(tmp_path / "b" / "out2")                        # the child's folder
    assert spec.lock_file == load_spec(base).lock_file == tmp_path / "a" / "base.yaml.lock"
    loop = _write(tmp_path / "c" / "loop.yaml", {"extends": "loop2.yaml"})
    _write(tmp_path / "c" / "loop2.yaml", {"extends": "loop.yaml"})
    with pytest.raises(SpecError, match="cycle"):
        load_spec(loop)
    with pytest.raises(SpecError, match=r"nope\.yaml: spec file not found \(extended by"):
        load_spec(_write(tmp_path / "d.yaml", {"extends": "nope.yaml"}))
