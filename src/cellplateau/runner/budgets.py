"""The training budget a plan implies, per family and subset size: optimizer steps, cells seen and epochs over
the subset's training cells, and what each policy holds constant across sizes. A step cap that shortens a
fixed_steps or fixed_epochs budget is reported as a warning naming the family and the fractions."""

from __future__ import annotations

from cellplateau.runner.context import StudyContext
from cellplateau.spec import family_label

COLUMNS = ["family", "fraction", "policy", "holds_constant", "train_cells", "planned_steps", "cells_seen",
           "epochs", "capped"]


def budget_table(ctx: StudyContext) -> list[dict]:
    """One row per (gradient-trained family, fraction): ``planned_steps`` (an upper bound under early
    stopping), ``cells_seen`` (steps x batch size), ``epochs`` (cells seen / training cells), ``capped``
    (an explicit ``max_steps`` shortens the policy). Closed-form families get ``policy = closed_form``."""
    from cellplateau.models._budget import HOLDS_CONSTANT, cap_binds, planned_steps
    from cellplateau.selection.subset import subset_size

    spec = ctx.spec
    val = spec.selection.val_fraction
    rows = []
    for fam in spec.families:
        budget = getattr(fam, "budget", None)
        batch = getattr(fam, "batch_size", None)
        for f in spec.selection.fractions:
            n = subset_size(ctx.store.n_cells, f)
            n_train = n - int(round(n * val))
            row = {"family": family_label(fam), "fraction": f, "train_cells": n_train}
            if budget is None or batch is None:
                rows.append({**row, "policy": "closed_form", "holds_constant": HOLDS_CONSTANT["closed_form"],
                             "planned_steps": 0, "cells_seen": n_train, "epochs": 1.0, "capped": False})
                continue
            steps = planned_steps(budget, n_train=n_train, batch_size=batch)
            rows.append({**row, "policy": budget.policy, "holds_constant": budget.holds_constant,
                         "planned_steps": steps, "cells_seen": steps * batch,
                         "epochs": steps * batch / max(n_train, 1),
                         "capped": cap_binds(budget, n_train=n_train, batch_size=batch)})
    return [{k: r[k] for k in COLUMNS} for r in rows]


def budget_warnings(table: list[dict]) -> list[str]:
    """One line per family whose explicit step cap binds, naming the fractions it binds at."""
    out = []
    for fam in dict.fromkeys(r["family"] for r in table):
        capped = [r for r in table if r["family"] == fam and r["capped"]]
        if capped:
            fr = ", ".join(f"{r['fraction']:g}" for r in capped)
            out.append(f"families[{fam}]: max_steps {capped[0]['planned_steps']} binds at fractions {fr} "
                       f"({capped[0]['policy']} would take more steps); above those sizes the curve holds compute "
                       "constant, not the policy; remove max_steps to train the full budget")
    return out
