"""The Arc Virtual Cell Atlas presets of ``cellplateau ingest``: ``scbasecount`` and ``tahoe100m``.

``--where key=value`` options fill the preset's typed config (lists comma-separated); an unknown key or a
bad value fails naming the key, as a spec does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import pandas as pd
from pydantic import BaseModel, ValidationError

from cellplateau.corpus.ingest import IngestError, IngestReport


def parse_where(items: Sequence[str], config: type[BaseModel], *, preset: str) -> BaseModel:
    """``["tech_10x=3_prime_gex,5_prime_gex", "min_obs_count=500"]`` -> a validated ``config``."""
    values: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise IngestError(f"--where {item!r}: expected key=value")
        key, value = (x.strip() for x in item.split("=", 1))
        field = config.model_fields.get(key)
        if field is None:
            raise IngestError(f"--where {key}: unknown option of --preset {preset}; options are "
                              f"{list(config.model_fields)}")
        is_list = "list" in str(field.annotation) or "tuple" in str(field.annotation)
        values[key] = [v.strip() for v in value.split(",") if v.strip()] if is_list else value
    try:
        return config.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise IngestError(f"--where {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def ingest_preset(preset: str, out: str | os.PathLike, files: Sequence[str | os.PathLike], *, where: Sequence[str],
                  layer: str | None, vocabulary: pd.DataFrame | None, chunk_size: int,
                  log: Callable[[str], None] | None = None) -> IngestReport:
    if preset == "scbasecount":
        from cellplateau.corpus.scbasecount import ScBaseCountPreset, ingest_scbasecount

        cfg = parse_where([*where, *([f"layer={layer}"] if layer else [])], ScBaseCountPreset, preset=preset)
        if len(files) != 1:
            raise IngestError(f"--preset scbasecount takes one sample_metadata.parquet, got {len(files)} files")
        return ingest_scbasecount(out, files[0], preset=cfg, vocabulary=vocabulary, chunk_size=chunk_size, log=log)
    if preset == "tahoe100m":
        from cellplateau.corpus.tahoe import TahoePreset, ingest_tahoe

        if layer:
            raise IngestError("--preset tahoe100m reads X (the plates' raw counts); --layer does not apply")
        cfg = parse_where(where, TahoePreset, preset=preset)
        return ingest_tahoe(out, files, preset=cfg, vocabulary=vocabulary, chunk_size=chunk_size, log=log)
    raise IngestError(f"--preset {preset!r}: unknown; presets are ['sctab', 'scbasecount', 'tahoe100m']")
