"""Shared fixtures: a tiny synthetic atlas and the real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cellplateau.corpus.simulate import AtlasParams, simulate_atlas

REPO = Path(__file__).resolve().parents[1]

TINY = AtlasParams(n_cells=3000, n_genes=300, n_lineages=4, max_subtypes=4, n_datasets=6, eval_cells=800,
                   chunk_size=1000, seed=7)


@pytest.fixture(scope="session")
def tiny_atlas(tmp_path_factory) -> Path:
    """Folder with ``corpus/`` (a 3,000-cell store) and ``eval/*.h5ad``."""
    root = tmp_path_factory.mktemp("atlas")
    simulate_atlas(root / "corpus", TINY)
    return root


@pytest.fixture(scope="session")
def tiny_store(tiny_atlas):
    from cellplateau.corpus.store import CorpusStore

    return CorpusStore(tiny_atlas / "corpus")


def realdata_dir() -> Path | None:
    path = Path(os.environ.get("CELLPLATEAU_REALDATA", REPO.parent / "shared" / "data" / "realdata"))
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def realdata() -> Path:
    path = realdata_dir()
    if path is None:
        if os.environ.get("CELLPLATEAU_REQUIRE_REALDATA"):
            pytest.fail("CELLPLATEAU_REQUIRE_REALDATA is set but the real-data folder is missing "
                        "(set CELLPLATEAU_REALDATA)")
        pytest.skip("real-data folder not found: set CELLPLATEAU_REALDATA or place ../shared/data/realdata")
    return path


@pytest.fixture(scope="session")
def real_corpus(realdata, tmp_path_factory) -> Path:
    """A corpus store ingested from two real PBMC files (3-chemistry PBMC + Kang), gene symbols."""
    from cellplateau.corpus.ingest import ingest_h5ad

    path = tmp_path_factory.mktemp("realcorpus") / "corpus"
    ingest_h5ad(path, [realdata / "pbmc_10x_3chemistries_unlabelled_scwgparis.h5ad",
                       realdata / "kang2018_pbmc_ifnb_harmony.h5ad"], obs_map={"assay": "chemistry"})
    return path


@pytest.fixture(scope="session")
def example_plugin_site(tmp_path_factory) -> Path:
    """``examples/plugin_family`` pip-installed (no dependencies, no index) into a temporary target folder, as a
    user installs a plug-in; put the folder on ``PYTHONPATH`` of the processes that should see it (entry points
    are found on the path). The repo copy stays clean: pip builds from a copy."""
    import shutil
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("plugin")
    src = shutil.copytree(REPO / "examples" / "plugin_family", root / "src")
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(src)], check=True, capture_output=True)
    return site


@pytest.fixture
def isolated_registries(monkeypatch):
    """Registries, loaded-plug-in memory, ``sys.path`` and the spec's unions restored after the test (a test
    that loads plug-ins into this process leaves nothing behind)."""
    import sys

    from cellplateau import registry

    regs = registry.registries()
    saved = {k: (dict(r), dict(r.sources)) for k, r in regs.items()}
    monkeypatch.setattr(registry, "_loaded_modules", set())
    monkeypatch.setattr(registry, "_loaded_entry_points", False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for k, r in regs.items():
        r.clear()
        r.update(saved[k][0])
        r.sources.clear()
        r.sources.update(saved[k][1])
    registry._generation += 1
    from cellplateau.spec import refresh_types

    refresh_types()


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny networks: one torch thread (threads spinning on a loaded machine cost more than they give)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
