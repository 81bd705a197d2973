"""Pretraining stage: model families behind one interface, and their explicit registry."""

from cellplateau.models.base import Family, ModelFamily, TrainingData, load_model
from cellplateau.models.mae import FAMILY as _mae
from cellplateau.models.pca import FAMILY as _pca

FAMILIES: dict[str, Family] = {f.name: f for f in (_pca, _mae)}

__all__ = ["FAMILIES", "Family", "ModelFamily", "TrainingData", "load_model"]
