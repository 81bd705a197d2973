"""Pretraining stage: model families behind one interface, and their explicit registry (plug-ins join it
through :mod:`cellplateau.registry`)."""

from cellplateau.models.base import Family, ModelFamily, TrainingData, load_model
from cellplateau.models.command import COMMAND as _command
from cellplateau.models.command import IMPORTED as _imported
from cellplateau.models.geneformer import FAMILY as _geneformer
from cellplateau.models.mae import FAMILY as _mae
from cellplateau.models.pca import FAMILY as _pca
from cellplateau.models.scimilarity import FAMILY as _scimilarity
from cellplateau.models.scvi import FAMILY as _scvi
from cellplateau.registry import Registry

FAMILIES: Registry = Registry("families", Family, (_pca, _scvi, _mae, _geneformer, _scimilarity, _command,
                                                _imported))

__all__ = ["FAMILIES", "Family", "ModelFamily", "TrainingData", "load_model"]
