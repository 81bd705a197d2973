"""The lock file beside a study spec (``SPEC.lock``): the SHA-256 and size of every evaluation dataset file
and of every file it was built from, written by the first download and verified by later fetches and runs.

JSON, one entry per dataset::

    {"version": 1,
     "datasets": {"intestine_on_chip": {"sha256": "...", "bytes": 123, "recipe": "...",
                                        "files": {"ifn.h5ad": {"url": "...", "sha256": "...", "bytes": 45}}}}}

Rewritten atomically (temporary file, then rename) after every dataset, so a fetch killed half-way keeps
what it had verified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cellplateau._io import atomic_write_text

VERSION = 1


def lock_path(spec_path: str | Path) -> Path:
    """``SPEC.lock`` beside the spec file."""
    spec_path = Path(spec_path)
    return spec_path.with_name(spec_path.name + ".lock")


@dataclass
class Lock:
    """The lock file's content; ``path`` is where it is written (``None``: kept in memory only)."""

    path: Path | None
    datasets: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | Path | None) -> Lock:
        if path is None or not Path(path).exists():
            return cls(None if path is None else Path(path))
        try:
            data = json.loads(Path(path).read_text())
            datasets = data["datasets"]
            if not isinstance(datasets, dict):
                raise TypeError("datasets is not a mapping")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a cellplateau lock file ({exc}); delete it to record the checksums "
                             "again") from None
        return cls(Path(path), datasets)

    @property
    def exists(self) -> bool:
        return self.path is not None and self.path.exists()

    def entry(self, name: str) -> dict:
        return self.datasets.get(name) or {}

    def file_sha(self, name: str, file_name: str) -> str | None:
        return (self.entry(name).get("files") or {}).get(file_name, {}).get("sha256")

    def record(self, name: str, entry: dict) -> None:
        self.datasets[name] = entry
        if self.path is not None:
            atomic_write_text(self.path, json.dumps({"version": VERSION, "datasets": self.datasets}, indent=2,
                                                    sort_keys=True) + "\n")
