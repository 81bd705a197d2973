"""Read one external results table (CSV or Parquet) as written, with the quirks of pandas-exported files handled.

* Leading index columns (an empty header field, ``Unnamed: N``, ``__index_level_N__``) are dropped.
* A CSV row with fewer fields than the header is read right-aligned: its fields fill the *last* columns (a file
  that appended rows lacking one leading index value keeps its named columns lined up). A row with more fields
  than the header is an error.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from cellplateau.results_import.mapping import MappingError

INDEX_COLUMN = re.compile(r"^(|Unnamed: \d+|__index_level_\d+__)$")
SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: Path) -> tuple[pd.DataFrame, int]:
    """``(table, short_rows)``: the table's named columns as strings (CSV) or native types (Parquet), one row per
    data row, and how many CSV rows were shorter than the header (read right-aligned). ``table.attrs['lines']``
    holds each row's line number in the file (for messages)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise MappingError(f"{path}: not a CSV or Parquet file (expected one of {', '.join(SUFFIXES)})")
    if suffix == ".csv":
        return _read_csv(path)
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise MappingError(f"{path}: cannot be read as Parquet ({' '.join(str(exc).split())})") from None
    table = table.reset_index(drop=True)
    keep = [c for c in table.columns if not INDEX_COLUMN.match(str(c))]
    table = table[keep].copy()
    table.attrs["lines"] = np.arange(len(table)) + 1
    return table, 0


def _read_csv(path: Path) -> tuple[pd.DataFrame, int]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MappingError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None
    rows = [(i, r) for i, r in enumerate(csv.reader(io.StringIO(text)), start=1) if r]
    if not rows:
        raise MappingError(f"{path}: empty file (no header)")
    (_, header), body = rows[0], rows[1:]
    width = len(header)
    short = 0
    data, lines = [], []
    for line, row in body:
        if len(row) > width:
            raise MappingError(f"{path}: line {line} has {len(row)} fields, the header {width}")
        if len(row) < width:
            short += 1
            row = [""] * (width - len(row)) + row
        data.append(row)
        lines.append(line)
    keep = [j for j, name in enumerate(header) if not INDEX_COLUMN.match(name.strip())]
    names = [header[j].strip() for j in keep]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise MappingError(f"{path}: column {dupes[0]!r} appears more than once in the header")
    table = pd.DataFrame([[r[j] for j in keep] for r in data], columns=names, dtype=object)
    table.attrs["lines"] = np.asarray(lines, dtype=int)
    return table, short


def numeric(table: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """``table[column]`` as floats; an empty cell is NaN, any other non-number an error naming the file, line
    and value."""
    raw = table[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    bad = np.isnan(values) & ~raw.map(_blank).to_numpy(bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MappingError(f"{path}: column {column!r} has a non-numeric value {raw.iloc[i]!r} "
                           f"(line {table.attrs['lines'][i]})")
    return values


def _blank(v) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip().lower() in ("", "nan", "na", "none")
    return bool(pd.isna(v))


def matches(table: pd.DataFrame, column: str, values) -> np.ndarray:
    """Rows whose ``column`` equals one of ``values``: as numbers where both sides are numbers, else as text."""
    raw = table[column]
    as_num = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    text = raw.astype(str).str.strip().to_numpy()
    out = np.zeros(len(table), bool)
    for v in values:
        try:
            num = float(v)
        except (TypeError, ValueError):
            num = None
        out |= text == str(v)
        if num is not None:
            out |= as_num == num
    return out
