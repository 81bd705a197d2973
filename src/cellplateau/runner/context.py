"""What a unit of work needs to run: the spec, its output layout, and lazily opened inputs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from cellplateau.corpus.store import CorpusStore
from cellplateau.spec import DatasetSpec, StudySpec


@dataclass(frozen=True)
class Layout:
    """Where a study's artifacts go (all under ``spec.output_dir``)."""

    root: Path

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    def sketch_embedding(self, key: str) -> Path:
        return self.artifacts / "sketch_embeddings" / key

    def subset(self, key: str) -> Path:
        return self.artifacts / "subsets" / key

    def model(self, key: str) -> Path:
        return self.artifacts / "models" / key

    def diversity(self, key: str) -> Path:
        return self.artifacts / "diversity" / f"{key}.json"

    def evaluation(self, key: str) -> Path:
        return self.artifacts / "evaluations" / f"{key}.parquet"

    @property
    def results(self) -> Path:
        return self.root / "results" / "results.parquet"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    @property
    def run_log(self) -> Path:
        return self.root / "runs.jsonl"

    def claim(self, key: str) -> Path:
        return self.root / "state" / "claims" / f"{key}.json"

    def failure(self, key: str) -> Path:
        return self.root / "state" / "failed" / f"{key}.json"


class StudyContext:
    """Spec + layout + cached inputs; rebuilt cheaply inside worker processes."""

    def __init__(self, spec: StudySpec):
        self.spec = spec
        self.layout = Layout(Path(spec.output_dir))

    @cached_property
    def store(self) -> CorpusStore:
        return CorpusStore(self.spec.corpus.path)

    def dataset(self, ds: DatasetSpec):
        return _load_dataset(ds, str(self.spec.corpus.path), self.spec.seed)


@lru_cache(maxsize=8)
def _load_dataset(ds: DatasetSpec, store_path: str, seed: int):
    from cellplateau._hashing import derive_seed
    from cellplateau.evaluation.datasets import load_eval_dataset

    store = CorpusStore(store_path)
    return load_eval_dataset(ds.path, store.var, name=ds.name, label_key=ds.label_key, batch_key=ds.batch_key,
                             gene_key=ds.gene_key, max_cells=ds.max_cells,
                             seed=derive_seed(seed, "dataset-subsample", ds.name))
