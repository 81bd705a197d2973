"""Fixtures of the runner tests: one finished tiny study per session, copied by the tests that damage it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cellplateau.runner.execute import run_study
from cellplateau.spec import load_spec
from tests.runner._spec import tiny_spec


@pytest.fixture(scope="session")
def finished_study(tiny_atlas, tmp_path_factory) -> Path:
    """A finished tiny study (PCA, three strategies at 10 %, diversity, controls, kNN)."""
    root = tmp_path_factory.mktemp("finished")
    spec_path = tiny_spec(tiny_atlas, root / "study", fractions=(0.1,), replicates=1, pca_only=True)
    summary = run_study(load_spec(spec_path), progress=False, log=lambda s: None)
    assert summary.failed == {}
    return spec_path


def copy_study(spec_path: Path, dest: Path) -> Path:
    """A copy of a study folder under ``dest`` with its spec pointing at the copy."""
    shutil.copytree(spec_path.parent, dest)
    spec = yaml.safe_load((dest / "study.yaml").read_text())
    spec["output_dir"] = str(dest)
    (dest / "study.yaml").write_text(yaml.safe_dump(spec))
    (dest / "spec.resolved.json").write_text(load_spec(dest / "study.yaml").model_dump_json(indent=2))
    return dest / "study.yaml"


