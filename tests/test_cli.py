import subprocess
import sys

import numpy as np
import pytest
import yaml


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cellplateau", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def test_bad_spec_exits_2_with_the_key(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "output_dir": "o", "corpus": {"path": "c"},
                                 "selection": {"strategies": [{"name": "random"}], "fractions": [2.0]},
                                 "families": [{"name": "pca"}],
                                 "evaluation": {"datasets": [{"name": "d", "path": "d"}],
                                                "tasks": [{"name": "knn_classification"}]}}))
    res = _cli("plan", p)
    assert res.returncode == 2
    assert "selection.fractions" in res.stderr and "every fraction must be in (0, 1]" in res.stderr


def test_ingest_bad_h5ad_names_the_file(tmp_path):
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    a = ad.AnnData(X=sp.csr_matrix(np.array([[0.5, 1.0]], dtype=np.float32)), var=pd.DataFrame(index=["A", "B"]))
    a.write_h5ad(tmp_path / "frac.h5ad")
    res = _cli("ingest", tmp_path / "store", tmp_path / "frac.h5ad")
    assert res.returncode == 2 and "frac.h5ad: count matrix holds non-integer values" in res.stderr
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_simulate_plan_and_report_commands(tmp_path, tiny_atlas):
    from tests.runner._spec import tiny_spec

    res = _cli("simulate", tmp_path / "c", "--n-cells", 500, "--n-genes", 100, "--eval-cells", 100)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "c" / "store.json").exists() and (tmp_path / "eval" / "new_assay.h5ad").exists()
    spec = tiny_spec(tiny_atlas, tmp_path / "study", mae_steps=5, fractions=(0.3,), replicates=1)
    res = _cli("plan", spec)
    assert res.returncode == 0 and "subset" in res.stdout and "train" in res.stdout
    assert _cli("report", spec).returncode == 2
    assert _cli("run", spec, "--no-progress").returncode == 0
    res = _cli("report", spec)
    assert res.returncode == 0 and "report.html" in res.stdout
    other = tiny_spec(tiny_atlas, tmp_path / "study2", mae_steps=5, fractions=(0.3,), replicates=1)
    assert _cli("report", spec, "--compare", other).returncode == 2      # the second study has no results yet
    assert _cli("run", other, "--no-progress").returncode == 0
    res = _cli("report", spec, "--compare", other)
    assert res.returncode == 0, res.stderr
    (folder,) = (tmp_path / "study" / "report").glob("compare_*")
    html = (folder / "report.html").read_text()
    assert "tiny:pca" in html and "tiny(2):pca" in html
