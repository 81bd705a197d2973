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


@dataclass(frozen=True)
class PlannedStore:
    """Stand-in for a corpus not built yet (``corpus.expected_cells``/``expected_genes``): enough to count and
    cost a plan, nothing to compute with."""

    n_cells: int
    n_genes: int
    fingerprint: str
    obs = None
    var = None


class StudyContext:
    """Spec + layout + cached inputs; rebuilt cheaply inside worker processes.

    With ``planning``, a missing corpus with expected sizes in the spec becomes a :class:`PlannedStore`.
    """

    def __init__(self, spec: StudySpec, *, planning: bool = False):
        self.spec = spec
        self.layout = Layout(Path(spec.output_dir))
        self.planning = planning

    @cached_property
    def store(self) -> CorpusStore | PlannedStore:
        c = self.spec.corpus
        if self.planning and c.expected_cells and not (Path(c.path) / "store.json").exists():
            from cellplateau._hashing import stable_hash

            return PlannedStore(c.expected_cells, c.expected_genes,
                                "planned-" + stable_hash(c.model_dump(mode="json")))
        return CorpusStore(c.path)

    @property
    def corpus_planned(self) -> bool:
        return isinstance(self.store, PlannedStore)

    def dataset(self, ds: DatasetSpec):
        return _load_dataset(ds.model_dump_json(), str(self.spec.corpus.path), self.spec.seed,
                             self.spec.evaluation.min_gene_overlap)


@lru_cache(maxsize=8)
def _load_dataset(ds_json: str, store_path: str, seed: int, min_overlap: float):
    from cellplateau._hashing import derive_seed
    from cellplateau.evaluation.datasets import load_dataset

    store = CorpusStore(store_path)
    ds = DatasetSpec.model_validate_json(ds_json)
    return load_dataset(ds, store.var, seed=derive_seed(seed, "dataset-subsample", ds.name), min_overlap=min_overlap)
