"""`cellplateau import-results` and `cellplateau report RESULTS.parquet` end to end."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from cellplateau.cli import app

from .conftest import EXAMPLE, write_tiny


def test_import_results_writes_results_and_report(tmp_path):
    path = write_tiny(tmp_path / "tables")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["import-results", str(path), "--out", str(out), "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    t = pd.read_parquet(out / "results" / "results.parquet")
    assert set(t["study"]) == {"tiny"} and "higher_is_better" in t.columns
    assert (out / "results" / "mapping.json").exists()
    assert (out / "report" / "report.html").exists()
    assert (out / "report" / "tables" / "glance_saturation.csv").exists()
    assert "the answer at a glance" in res.output and "A_eval.csv: 12 of 12 rows" in res.output
    # the report of the table alone, elsewhere
    again = CliRunner().invoke(app, ["report", str(out / "results" / "results.parquet"), "--out", str(tmp_path / "r2")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "r2" / "report" / "report.html").exists() and "the answer at a glance" in again.output


def test_report_of_a_table_needs_out(tmp_path):
    res = CliRunner().invoke(app, ["report", str(tmp_path / "results.parquet")])
    assert res.exit_code == 2 and "takes --out DIR" in res.output


def test_reference_tables_given_explicitly(tmp_path, reference_results):
    names = ["SSL_zeroshot_classification_eval_results.csv", "zero_shot_classification_pca_baselines.csv",
             "old_SSL_finetune_perturbation.csv"]
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["import-results", str(EXAMPLE), *(str(reference_results / n) for n in names),
                                   "--out", str(out), "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    assert "not read (skip): old_SSL_finetune_perturbation.csv" in " ".join(res.output.split())
    t = pd.read_parquet(out / "results" / "results.parquet")
    assert set(t["family"]) == {"SSL", "baseline:pca"} and len(t) == (520 + 4) * 5
    st = pd.read_csv(out / "report" / "tables" / "statements.csv")
    assert len(st) == 6 and "statements against its numbers" in res.output
