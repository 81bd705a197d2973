"""The built-in demo study (synthetic atlas, three strategies, two families)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from cellplateau._io import atomic_write_text


def demo_spec_text() -> str:
    return (files("cellplateau.demo") / "demo_study.yaml").read_text()


def write_demo_spec(folder: str | Path) -> Path:
    """Write the demo spec into ``folder`` (paths inside are relative to it); return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.yaml"
    atomic_write_text(path, demo_spec_text())
    return path
