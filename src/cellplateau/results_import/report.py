"""The report of an imported results table: the study report (built from the table alone) plus the source
paper's statements checked against the numbers (``tables/statements.csv``), written atomically into one folder."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pandas as pd

from cellplateau._io import atomic_dir, atomic_write_text
from cellplateau.results_import.mapping import ImportMapping, MappingError, parse_mapping

MAPPING_FILE = "mapping.json"      # the resolved mapping, beside the results table it produced


def analysis_spec(mapping: ImportMapping | None):
    """The mapping's ``analysis`` block (and its tasks' headline metrics) as the study spec's ``AnalysisSpec``,
    where the analysis has one; None otherwise."""
    if mapping is None:
        return None
    try:
        from cellplateau.analysis.settings import AnalysisSpec
    except ImportError:
        return None
    data = mapping.analysis.model_dump()
    if "headline" in AnalysisSpec.model_fields:
        data["headline"] = mapping.headlines()
    return AnalysisSpec(**{k: v for k, v in data.items() if k in AnalysisSpec.model_fields})


def render_kwargs(render, mapping: ImportMapping | None, *, n_boot: int | None, progress: bool) -> dict:
    """Keywords for ``render`` that it takes (``analysis`` once the report takes one)."""
    params = inspect.signature(render).parameters
    kw = {"progress": progress}
    if n_boot is not None and "n_boot" in params:
        kw["n_boot"] = n_boot
    spec = analysis_spec(mapping)
    if spec is not None and "analysis" in params:
        kw["analysis"] = spec
    return kw


def write_report(folder: Path, results: pd.DataFrame, *, title: str, mapping: ImportMapping | None = None,
                 n_boot: int | None = None, progress: bool = False) -> str:
    """Render ``results`` into ``folder`` (replaced atomically: a failure leaves the previous report or none);
    with a mapping, its statements are checked into ``tables/statements.csv``. Returns the report's path."""
    from cellplateau.report.html import render
    from cellplateau.results_import.statements import check_statements

    with atomic_dir(folder) as tmp:
        html = render(results, title=title, folder=tmp, **render_kwargs(render, mapping, n_boot=n_boot,
                                                                        progress=progress))
        atomic_write_text(tmp / "report.html", html)
        if mapping is not None and mapping.statements:
            atomic_write_text(tmp / "tables" / "statements.csv",
                              check_statements(results, mapping).to_csv(index=False))
    return str(folder / "report.html")


def mapping_json(mapping: ImportMapping) -> str:
    return json.dumps(mapping.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def read_saved_mapping(results_path: Path) -> ImportMapping | None:
    """The mapping saved beside an imported results table, if there is one."""
    path = Path(results_path).parent / MAPPING_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MappingError(f"{path}: cannot be read ({exc})") from None
    return parse_mapping(data, source=str(path))
