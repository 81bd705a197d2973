"""Which metric each task's curves use, and which way is better.

From, in order: the study's ``analysis.headline`` override, the registered task (:class:`cellplateau.evaluation
.base.Task`: ``headline``, ``higher_is_better``, ``lower_is_better``), and the results table's own ``headline`` and
``higher_is_better`` columns (an imported table, whose tasks are not registered). A metric whose direction no
source gives is an error naming it: a lower-is-better headline read as higher-is-better would invert every
saturation point, verdict and frontier.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pandas as pd

NON_EVAL_TASKS = ("composition", "diversity", "pretraining", "selection", "trajectory")


class Headlines(Mapping):
    """``{task: headline metric}`` with each headline's direction (:meth:`higher_is_better`)."""

    def __init__(self, metrics: dict[str, str], higher: dict[str, bool]):
        self._metrics, self._higher = dict(metrics), dict(higher)

    def __getitem__(self, task: str) -> str:
        return self._metrics[task]

    def __iter__(self) -> Iterator[str]:
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)

    def higher_is_better(self, task: str) -> bool:
        return self._higher.get(task, True)


def higher_is_better(metric_for_task: Mapping[str, str], task: str) -> bool:
    """The direction of ``task``'s headline: from a :class:`Headlines`, else the registered task, else True."""
    if isinstance(metric_for_task, Headlines):
        return metric_for_task.higher_is_better(task)
    from cellplateau.evaluation import TASKS

    return TASKS[task].higher_is_better if task in TASKS else True


def _registered(task: str):
    from cellplateau.evaluation import TASKS

    return TASKS[task] if task in TASKS else None


def headlines(results: pd.DataFrame, overrides: Mapping[str, str] | None = None) -> Headlines:
    """The headline metric and its direction for every evaluation task in ``results``."""
    overrides = dict(overrides or {})
    ev = results[~results["task"].isin(NON_EVAL_TASKS)]
    metrics, higher = {}, {}
    for task, g in ev.groupby("task", observed=True, sort=True):
        reg = _registered(task)
        metric = overrides.get(task)
        if metric is None and "headline" in g.columns:
            marked = g.loc[g["headline"].astype("boolean").fillna(False).to_numpy(bool), "metric"].unique()
            metric = str(marked[0]) if len(marked) == 1 else None
        if metric is None and reg is not None:
            metric = reg.headline
        if metric is None:
            raise ValueError(f"task {task!r}: no headline metric (not a registered task, no row marked "
                             "`headline`, no analysis.headline entry)")
        if metric not in set(g["metric"]):
            raise ValueError(f"task {task!r}: headline metric {metric!r} is not among its metrics "
                             f"{sorted(map(str, g['metric'].unique()))[:12]}")
        metrics[task] = metric
        higher[task] = _direction(g, task, metric, reg)
    return Headlines(metrics, higher)


def _direction(g: pd.DataFrame, task: str, metric: str, reg) -> bool:
    if "higher_is_better" in g.columns:
        d = g.loc[g["metric"] == metric, "higher_is_better"].dropna().unique()
        if len(d) > 1:
            raise ValueError(f"task {task!r}: metric {metric!r} is marked both higher- and lower-is-better")
        if len(d) == 1:
            return bool(d[0])
    if reg is not None:
        return metric_direction(reg, metric)
    raise ValueError(f"task {task!r}: metric {metric!r} declares no direction (higher_is_better)")


def metric_direction(task, metric: str) -> bool:
    """Whether ``metric`` of the registered ``task`` is higher-is-better."""
    if metric == task.headline:
        return task.higher_is_better
    return metric not in task.lower_is_better
