"""Selection stage: which cells of the corpus go into a pretraining subset.

Each strategy is one module with a pure ``select(...) -> sorted indices`` function and a typed
config; :data:`STRATEGIES` is the explicit registry the spec and the runner read.
"""

from cellplateau.registry import Registry
from cellplateau.selection.base import Strategy
from cellplateau.selection.celltype_reweighted import STRATEGY as _reweighted
from cellplateau.selection.geometric_sketch import STRATEGY as _sketch
from cellplateau.selection.kcenter import STRATEGY as _kcenter
from cellplateau.selection.random import STRATEGY as _random
from cellplateau.selection.spike_in import STRATEGY as _spike_in
from cellplateau.selection.stratified import STRATEGY as _stratified

STRATEGIES: Registry = Registry("strategies", Strategy, (_random, _reweighted, _sketch, _spike_in, _stratified,
                                                         _kcenter))

__all__ = ["STRATEGIES", "Strategy"]
