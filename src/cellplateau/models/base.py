"""The model-family interface: fit on a subset of the store, save atomically, embed any dataset."""

from __future__ import annotations

import abc
import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel

from cellplateau._io import atomic_dir, atomic_write_json
from cellplateau.corpus.store import CorpusStore


@dataclass(frozen=True)
class TrainingData:
    """The cells a model may learn from: rows of the store, split into train and validation."""

    store: CorpusStore
    train: np.ndarray    # sorted corpus rows
    val: np.ndarray      # sorted corpus rows (may be empty)


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


class ModelFamily(abc.ABC):
    """One model family. Subclasses implement the maths; saving/loading is shared.

    ``embed(counts)`` takes raw counts as CSR (cells x corpus vocabulary genes) and returns a dense
    float32 array (cells x embedding dims).
    """

    name: ClassVar[str]

    def __init__(self, config: BaseModel):
        self.config = config
        self.fit_info = FitInfo()

    @abc.abstractmethod
    def fit(self, data: TrainingData, *, seed: int, device: str = "cpu") -> FitInfo: ...

    @abc.abstractmethod
    def embed(self, counts: sp.spmatrix, *, batch_size: int = 4096) -> np.ndarray: ...

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
    """A registered family: its config model and its implementation class."""

    name: str
    config: type[BaseModel]
    model: type[ModelFamily]


def load_model(path: str | os.PathLike) -> ModelFamily:
    """Load a saved model; the class named in ``model.json`` rebuilds it from its config."""
    path = Path(path)
    meta = json.loads((path / "model.json").read_text())
    module, qual = meta["class"].split(":")
    cls = getattr(importlib.import_module(module), qual)
    config_cls = importlib.import_module("cellplateau.models").FAMILIES[meta["family"]].config
    model = cls(config_cls.model_validate(meta["config"]))
    model.fit_info = FitInfo(**meta["fit"])
    model._load_weights(path)
    return model
