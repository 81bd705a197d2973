"""Adaptive studies (``selection.adaptive``): rounds of units, smallest fractions first.

Round 1 runs the ``initial_fractions`` smallest fractions for every (model, strategy) pair; after each round
the results table is rebuilt, every curve is fitted and its saturation point bootstrapped
(:mod:`cellplateau.analysis.adaptive`), and only the pairs with an unresolved curve get their next fraction.
The rounds are a loop over ordinary units (the same keys as the full grid), so they run on every executor and
resume: a re-run recomputes the same decisions from the same finished units and carries on where it stopped.
``adaptive.json`` in the study folder records the rounds, the skipped units and the training FLOPs saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cellplateau._io import atomic_write_json
from cellplateau.runner.context import StudyContext
from cellplateau.runner.plan import Plan
from cellplateau.runner.units import Unit

Group = tuple[str, str]      # (model label as in the results' ``model`` column, strategy)


def _model_label(label: str, depth: float) -> str:
    return label if depth == 1.0 else f"{label}@depth{depth:g}"


@dataclass
class AdaptiveRun:
    """The schedule of an adaptive study and the units each round needs."""

    ctx: StudyContext
    plan: Plan
    schedule: dict[Group, list[float]] = field(default_factory=dict)
    rounds: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        spec = self.ctx.spec
        fractions = sorted(spec.selection.fractions)
        first = fractions[: spec.selection.adaptive.initial_fractions]
        # train key -> (subset key, model label); subset key -> {(strategy, fraction)}
        self._train: dict[str, tuple[str, str]] = {}
        for (subset_key, label), key in self.plan.models.items():
            self._train[key] = (subset_key, label)
        for (subset_key, label, depth), key in self.plan.thinned.items():
            self._train[key] = (subset_key, _model_label(label, depth))
        self._refs: dict[str, set[tuple[str, float]]] = {}
        for ref in self.plan.subset_refs:
            self._refs.setdefault(ref.subset_key, set()).add((ref.strategy, ref.fraction))
        models = sorted({label for _, label in self._train.values()})
        strategies = [s.name for s in spec.selection.strategies]
        self.schedule = {(m, s): list(first) for m in models for s in strategies}

    def _wanted(self, subset_key: str, model: str | None = None) -> bool:
        return any(f in self.schedule.get((m, s), []) for s, f in self._refs.get(subset_key, ())
                   for m in ([model] if model else {g[0] for g in self.schedule}))

    def units(self) -> list[Unit]:
        """Every unit the current schedule needs (controls, baselines and embeddings always)."""
        keep: set[str] = set()
        for u in self.plan.all_units():
            if u.kind == "subset" and not self._wanted(u.key):
                continue
            if u.kind == "diversity" and not self._wanted(u.params["subset_key"]):
                continue
            if u.kind == "train" and u.key in self._train and not self._wanted(*self._train[u.key]):
                continue
            if u.kind == "evaluate" and u.params["model_key"] in self._train and \
                    not self._wanted(*self._train[u.params["model_key"]]):
                continue
            keep.add(u.key)
        return [u for u in self.plan.all_units() if u.key in keep]

    def advance(self, results) -> bool:
        """Fit the curves on ``results``, record the round, extend the schedule; ``False`` when it is final."""
        from cellplateau.analysis.adaptive import curve_status, next_schedule

        spec = self.ctx.spec
        cfg = spec.selection.adaptive
        status = curve_status(results, self.schedule, confidence=cfg.confidence, n_boot=cfg.n_boot, seed=spec.seed)
        new = next_schedule(status, self.schedule, spec.selection.fractions)
        self.rounds.append({"round": len(self.rounds) + 1,
                            "fractions": {f"{m} / {s}": list(v) for (m, s), v in self.schedule.items()},
                            "curves": status.to_dict(orient="records"),
                            "extended": sorted(f"{m} / {s}" for (m, s) in new if new[(m, s)] != self.schedule[(m, s)])})
        done = new == self.schedule
        self.schedule = new
        return not done

    def write_record(self) -> dict:
        """Write ``adaptive.json``: rounds, units skipped against the full grid, training FLOPs (estimates)."""
        from cellplateau.runner.compute import estimate_compute

        run = {u.key for u in self.units()}
        skipped = [u for u in self.plan.all_units() if u.key not in run]
        sub = Plan(units={k: [u for u in v if u.key in run] for k, v in self.plan.units.items()},
                   subset_refs=self.plan.subset_refs)
        full_flops = estimate_compute(self.ctx, self.plan)["train"]
        run_flops = estimate_compute(self.ctx, sub)["train"]
        record = {"confidence": self.ctx.spec.selection.adaptive.confidence, "rounds": self.rounds,
                  "final_fractions": {f"{m} / {s}": v for (m, s), v in self.schedule.items()},
                  "units_run": {k: sum(u.key in run for u in v) for k, v in self.plan.units.items()},
                  "units_full_grid": {k: len(v) for k, v in self.plan.units.items()},
                  "skipped": [{"stage": u.kind, "label": u.label} for u in skipped],
                  "train_flops_run": run_flops, "train_flops_full_grid": full_flops,
                  "train_flops_saved_share": 1 - run_flops / full_flops if full_flops > 0 else 0.0}
        atomic_write_json(self.ctx.layout.root / "adaptive.json", record)
        return record
