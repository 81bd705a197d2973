"""Estimated compute of a plan, per stage, from the families' analytical FLOP estimates (no training,
no network access: the untrained networks are built locally to count their parameters)."""

from __future__ import annotations

from cellplateau.runner.context import StudyContext
from cellplateau.runner.plan import Plan
from cellplateau.runner.units import STAGES


def estimate_compute(ctx: StudyContext, plan: Plan) -> dict[str, float]:
    """``{stage: training FLOPs}``; only the ``train`` stage is estimated (the others are NaN).

    A training on a subset of fraction f sees ``round(N f) * (1 - val_fraction)`` training cells;
    untrained controls cost nothing.
    """
    from cellplateau.models import FAMILIES
    from cellplateau.models.base import estimate_training_flops
    from cellplateau.selection.subset import subset_size

    store = ctx.store
    val = ctx.spec.selection.val_fraction
    fractions = {u.key: u.params["fraction"] for u in plan.units["subset"]}
    configs = {f.name: type(f) for f in ctx.spec.families}
    cache: dict[tuple[str, int], float] = {}
    total = 0.0
    for unit in plan.units["train"]:
        p = unit.params
        if p.get("control"):
            continue
        n = subset_size(store.n_cells, fractions[p["subset_key"]])
        n_train = n - int(round(n * val))
        config = configs[p["family"]].model_validate(p["config"])
        key = (config.model_dump_json(), n_train)
        if key not in cache:
            cache[key] = estimate_training_flops(FAMILIES[p["family"]], config, n_genes=store.n_genes,
                                                 n_train=n_train)
        if cache[key] == cache[key]:          # families that cannot estimate (user commands) give NaN
            total += cache[key]
    return {stage: (total if stage == "train" else float("nan")) for stage in STAGES}


def plan_compute(spec, built: tuple[StudyContext, Plan] | None = None) -> dict[str, float]:
    from cellplateau.runner.execute import planned

    return estimate_compute(*(built or planned(spec)))
