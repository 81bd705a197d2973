"""Bad input gets one line naming the file, column, key or curve, and nothing is written."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cellplateau.cli import app
from cellplateau.results_import.mapping import MappingError, load_mapping
from cellplateau.results_import.reader import import_tables

from .conftest import tiny_mapping, write_tiny


def _import(path):
    return import_tables(load_mapping(path))


def _cli_error(path, tmp_path) -> str:
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["import-results", str(path), "--out", str(out), "--n-boot", "10"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    assert not out.exists()                         # nothing half-written
    return " ".join(res.output.split())


def test_the_tiny_study_imports(tmp_path):
    t = _import(write_tiny(tmp_path)).table
    assert set(t["family"]) == {"fam", "baseline:pca"} and set(t["model_size"]) == {"s", "l", "-"}
    assert len(t) == 2 * (12 * 2) + 2
    assert t.loc[t["metric"] == "loss", "higher_is_better"].eq(False).all()


def test_missing_column_names_file_and_column(tmp_path):
    m = tiny_mapping()
    m["tasks"]["knn_classification"]["metrics"]["auroc"] = {"higher_is_better": True}
    path = write_tiny(tmp_path, m)
    with pytest.raises(MappingError, match=r"A_eval\.csv: no column 'auroc'"):
        _import(path)
    assert "no column 'auroc'" in _cli_error(path, tmp_path)


def test_missing_identifying_column(tmp_path):
    path = write_tiny(tmp_path, tiny_mapping(seed="run"))
    with pytest.raises(MappingError, match=r"A_eval\.csv: no column 'run' \(mapping key seed\)"):
        _import(path)


def test_percentage_outside_0_100(tmp_path):
    path = write_tiny(tmp_path)
    a = pd.read_csv(tmp_path / "A_eval.csv", index_col=0)
    a.loc[0, "percentage"] = 150
    a.to_csv(tmp_path / "A_eval.csv")
    with pytest.raises(MappingError, match=r"A_eval\.csv: column 'percentage' holds '150' \(line 2\): percentages"):
        _import(path)
    assert "percentages lie in 0-100" in _cli_error(path, tmp_path)


def test_fraction_outside_0_1(tmp_path):
    m = tiny_mapping(fraction={"column": "percentage", "unit": "fraction"})
    path = write_tiny(tmp_path, m)                  # 10 and 100 are no fractions
    with pytest.raises(MappingError, match=r"column 'percentage' holds '10' .*fractions lie in 0-1"):
        _import(path)


@pytest.mark.parametrize("metric", [{}, None, {"name": "f"}])
def test_metric_without_direction(tmp_path, metric):
    m = tiny_mapping()
    m["tasks"]["knn_classification"]["metrics"]["loss"] = metric
    path = write_tiny(tmp_path, m)
    with pytest.raises(MappingError, match=r"tasks\.knn_classification\.metrics\.loss.*declares no direction"):
        load_mapping(path)
    assert "declares no direction" in _cli_error(path, tmp_path)


def test_curve_with_one_size(tmp_path):
    path = write_tiny(tmp_path)
    a = pd.read_csv(tmp_path / "A_eval.csv", index_col=0)
    extra = a[a["percentage"] == 10].assign(method="geometric_sketching")
    pd.concat([a, extra]).to_csv(tmp_path / "A_eval.csv")
    msg = r"curve knn_classification / d1 / fam-s / geometric_sketching has a single size \(0\.1 of the corpus"
    with pytest.raises(MappingError, match=msg):
        _import(path)
    assert "has a single size" in _cli_error(path, tmp_path)
    m = tiny_mapping()
    m["strategy"]["drop"] = ["geometric_sketching"]          # the way out the message names
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(m))
    assert "geometric_sketching" not in set(_import(path).table["strategy"])


@pytest.mark.parametrize("where", ["top", "nested"])
def test_unknown_key(tmp_path, where):
    m = tiny_mapping()
    if where == "top":
        m["colour"] = "blue"
    else:
        m["fraction"]["units"] = "percentage"
    path = write_tiny(tmp_path, m)
    with pytest.raises(MappingError, match=r"(colour|fraction\.units): unknown key"):
        load_mapping(path)
    assert "unknown key" in _cli_error(path, tmp_path)


def test_glob_matching_nothing(tmp_path):
    m = tiny_mapping()
    m["tasks"]["knn_classification"]["files"].append("*_zeroshot_*.csv")
    path = write_tiny(tmp_path, m)
    with pytest.raises(MappingError, match=r"tasks\.knn_classification\.files: '\*_zeroshot_\*\.csv' matches no table"):
        _import(path)
    assert "matches no table" in _cli_error(path, tmp_path)


def test_unknown_model_and_skip(tmp_path):
    m = tiny_mapping(models={"A": {"family": "fam", "size": "s"}})
    path = write_tiny(tmp_path, m)
    with pytest.raises(MappingError, match=r"B_eval\.parquet: model 'B' is not in models"):
        _import(path)
    m["model"]["skip"] = ["B*"]
    path.write_text(yaml.safe_dump(m))
    assert set(_import(path).table["model_size"]) == {"s", "-"}


def test_repeated_run_with_other_values(tmp_path):
    path = write_tiny(tmp_path)
    a = pd.read_csv(tmp_path / "A_eval.csv", index_col=0)
    pd.concat([a, a.iloc[[0]].assign(micro_f1=0.1)]).to_csv(tmp_path / "A_eval.csv")
    with pytest.raises(MappingError, match=r"A_eval\.csv: lines 2 and 14 are the same run .*duplicates: first"):
        _import(path)
    m = tiny_mapping(duplicates="mean")
    path.write_text(yaml.safe_dump(m))
    t = _import(path).table
    first = t[(t["model_size"] == "s") & (t["metric"] == "micro_f1") & (t["replicate"] == 0)]
    assert len(first) == 1 and first["value"].item() == pytest.approx((a["micro_f1"].iloc[0] + 0.1) / 2)


def test_short_rows_read_right_aligned(tmp_path):
    path = write_tiny(tmp_path)
    text = (tmp_path / "A_eval.csv").read_text().splitlines()
    # a repeat of the first data row lacking its leading index value: read right-aligned, a duplicate, dropped
    text.append(text[1].split(",", 1)[1])
    (tmp_path / "A_eval.csv").write_text("\n".join(text))
    imp = _import(path)
    f = next(f for f in imp.files if f.name == "A_eval.csv")
    assert f.short_rows == 1 and f.duplicates == 1 and f.imported == 12


def test_not_a_mapping_and_missing_file(tmp_path):
    with pytest.raises(MappingError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.yaml")
    (tmp_path / "m.yaml").write_text("- a\n- b\n")
    with pytest.raises(MappingError, match="expected a YAML mapping"):
        load_mapping(tmp_path / "m.yaml")
