"""The model-family interface: fit on a subset of the store, save atomically, embed any dataset."""

from __future__ import annotations

import abc
import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cellplateau._io import atomic_dir, atomic_write_json
from cellplateau.corpus.store import CorpusStore


@dataclass(frozen=True)
class TrainingData:
    """The cells a model may learn from: rows of the store, split into train and validation."""

    store: CorpusStore
    train: np.ndarray    # sorted corpus rows
    val: np.ndarray      # sorted corpus rows (may be empty)
    manifest: dict = field(default_factory=dict)    # the subset's manifest: strategy, fraction, replicate, seed...
    workdir: Path | None = None                     # scratch folder beside the model's artifact (may be None)


@dataclass
class FitInfo:
    """What training did, recorded with the model and in the results table."""

    steps: int = 0
    epochs: float = 0.0
    cells_seen: int = 0
    train_loss: float = float("nan")
    val_loss: float = float("nan")
    n_params: int = 0
    wall_time_s: float = 0.0
    data_wait_s: float = 0.0
    budget: dict = field(default_factory=dict)
    device: str = "cpu"
    flops: float = float("nan")          # analytical estimate of training FLOPs
    peak_rss_mb: float = float("nan")    # peak resident memory of the training process
    peak_gpu_mb: float = float("nan")    # peak CUDA memory allocated during training
    control: bool = False                # an untrained (random-initialisation) control
    # validation-loss trajectory: rows [optimizer step, cells seen, loss] every budget.eval_every steps
    # (step 0 = before training), and the embedding probe's at the same steps: rows [step, cells seen, kNN
    # accuracy] (models._probe); loss_converged / probe_converged: models._validation's rule on each (None:
    # cannot tell); converged: both (models._validation.convergence), the loss alone when the probe was
    # skipped (probe_skipped: the reason, e.g. "corpus obs has no column 'cell_type'")
    val_curve: list[list] = field(default_factory=list)
    probe_curve: list[list] = field(default_factory=list)
    converged: bool | None = None
    loss_converged: bool | None = None
    probe_converged: bool | None = None
    probe_skipped: str | None = None


@dataclass
class TrainableEncoder:
    """A differentiable view of a model's embedding, for full fine-tuning.

    ``prepare(counts)`` turns raw counts (CSR, cells x vocabulary) into the encoder's input tensor;
    ``forward(inputs)`` gives the embedding with gradients; ``module`` holds the parameters to tune.
    """

    module: Any
    prepare: Callable[[sp.csr_matrix], Any]
    forward: Callable[[Any], Any]
    dim: int


class ModelFamily(abc.ABC):
    """One model family. Subclasses implement the maths; saving/loading is shared.

    ``embed(counts)`` takes raw counts as CSR (cells x corpus vocabulary genes) and returns a dense
    float32 array (cells x embedding dims).
    """

    name: ClassVar[str]
    device_kinds: ClassVar[tuple[str, ...]] = ("cpu", "cuda")   # devices it trains on (closed forms: cpu only)

    def __init__(self, config: BaseModel):
        self.config = config
        self.fit_info = FitInfo()

    @abc.abstractmethod
    def fit(self, data: TrainingData, *, seed: int, device: str = "cpu") -> FitInfo: ...

    @abc.abstractmethod
    def embed(self, counts: sp.spmatrix, *, batch_size: int = 4096, source: str = "counts") -> np.ndarray:
        """Embed raw counts (cells x vocabulary genes); ``source`` names the data in error messages."""

    @abc.abstractmethod
    def init_untrained(self, n_genes: int, *, seed: int) -> None:
        """Random initialisation without any data: the "fraction 0" control."""

    def has_control(self) -> bool:
        """Whether the family has an untrained control (a command family without an ``untrained`` command has none)."""
        return True

    def missing_inputs(self, point: dict) -> list[str]:
        """Files a training of subset ``point`` (strategy, fraction, replicate) needs that are absent (``plan``
        lists them; e.g. imported checkpoints)."""
        return []

    def untrained_control(self, n_genes: int, *, seed: int, store: CorpusStore | None = None) -> FitInfo:
        """Initialise as the untrained control and record it (``store``: the corpus, for families that need its
        vocabulary)."""
        self.init_untrained(n_genes, seed=seed)
        self.fit_info = FitInfo(n_params=self.n_params(), budget={"policy": "untrained"}, control=True,
                                flops=0.0)
        return self.fit_info

    def trainable_encoder(self) -> TrainableEncoder | None:
        """The encoder as a torch module for full fine-tuning; ``None`` for closed-form families (PCA)."""
        return None

    def n_params(self) -> int:
        net = getattr(self, "net", None) or getattr(self, "module", None)
        return int(sum(p.numel() for p in net.parameters())) if net is not None else 0

    @abc.abstractmethod
    def _save_weights(self, folder: Path) -> None: ...

    @abc.abstractmethod
    def _load_weights(self, folder: Path) -> None: ...

    def save(self, path: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> Path:
        """Write the model (weights + ``model.json`` with its config and fit record) atomically."""
        path = Path(path)
        with atomic_dir(path) as tmp:
            self._save_weights(tmp)
            atomic_write_json(tmp / "model.json", {
                "family": self.name,
                "class": f"{type(self).__module__}:{type(self).__qualname__}",
                "config": self.config.model_dump(mode="json"),
                "fit": self.fit_info.__dict__,
                **(extra or {}),
            })
        return path


@dataclass(frozen=True)
class Family:
    """A registered family: its config model, its implementation class, an optional plan-time
    check of the corpus (``check(config, store)`` raises ``ValueError`` with a clear message), and an
    optional analytical training-FLOP estimate ``estimate(config, n_genes, n_train)`` (default: a dense
    network, ``6 * n_params * planned cells``)."""

    name: str
    config: type[BaseModel]
    model: type[ModelFamily]
    check: Callable[[BaseModel, CorpusStore], None] | None = None
    estimate: Callable[[BaseModel, int, int], float] | None = None

    @property
    def device_kinds(self) -> tuple[str, ...]:
        """The devices the family trains on (``cpu``, ``cuda``); the runner never asks for a family by name."""
        return self.model.device_kinds


def estimate_training_flops(family: Family, config: BaseModel, *, n_genes: int, n_train: int) -> float:
    """Training FLOPs of ``config`` on ``n_train`` cells, before training (an upper bound for early
    stopping). The default builds the untrained network to count its parameters."""
    from cellplateau.models._budget import planned_steps
    from cellplateau.models._compute import dense_training_flops

    if family.estimate is not None:
        return family.estimate(config, n_genes, n_train)
    model = family.model(config)
    model.init_untrained(n_genes, seed=0)
    steps = planned_steps(config.budget, n_train=n_train, batch_size=config.batch_size)
    return dense_training_flops(model.n_params(), steps * config.batch_size)


class FamilyConfig(BaseModel):
    """Base of a family's config: frozen, unknown keys refused, and size presets.

    A subclass adds ``name: Literal["<family>"]`` and its own fields, and lists its presets in the class
    variable ``presets`` (``{"xs": {field: value}, ...}``); ``size: xs`` then fills the fields the spec did
    not set (explicit fields win), and the size labels the model-size axis.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    size: str | None = Field(None, description="size preset; explicit fields override it")

    @model_validator(mode="before")
    @classmethod
    def _apply_size_preset(cls, data: Any) -> Any:
        size = data.get("size") if isinstance(data, dict) else None
        if size is None:
            return data
        if size not in cls.presets:
            raise ValueError(f"unknown size {size!r}; presets are {list(cls.presets)}")
        return {**cls.presets[size], **data}


def family_name(config: BaseModel) -> str:
    """The name a family configuration shows in results: its ``label`` (command and imported families) or its
    family name."""
    return getattr(config, "label", None) or config.name


def model_size(config: BaseModel) -> str:
    """The size label of a family config: its preset name, or ``custom``."""
    return getattr(config, "size", None) or "custom"


def load_model(path: str | os.PathLike) -> ModelFamily:
    """Load a saved model; the class named in ``model.json`` rebuilds it from its config."""
    path = Path(path)
    meta = json.loads((path / "model.json").read_text())
    families = importlib.import_module("cellplateau.models").FAMILIES
    family = families.get(meta["family"])
    if family is None:
        raise ValueError(f"{path}: the model is of family {meta['family']!r}, which is not registered here "
                         f"(registered: {sorted(families)}); install its plug-in or list it in the spec's plugins")
    model = family.model(family.config.model_validate(meta["config"]))
    model.fit_info = FitInfo(**meta["fit"])
    model._load_weights(path)
    return model
