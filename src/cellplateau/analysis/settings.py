"""How a study's curves are read: the saturation rule, its threshold and the headline metric per task.

One typed block, ``analysis:`` in a study spec or in an ``import-results`` mapping, so every number in a report
says which rule produced it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RULES = ("seed_mean", "any_seed", "fitted")
RULE_TEXT = {
    "seed_mean": "the smallest size whose mean over seeds reaches {t:.0%} of the best seed mean",
    "any_seed": "the smallest size at which any single seed reaches {t:.0%} of the best single run (the "
                "reference study's rule)",
    "fitted": "the size at which the robust power-law fit reaches {t:.0%} of its asymptote",
}


class AnalysisSpec(BaseModel):
    """Which saturation rule sets a curve's saturation point, and on which metric."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    saturation_rule: Literal["seed_mean", "any_seed", "fitted"] = Field(
        "seed_mean", description="seed_mean: smallest size whose seed mean reaches `threshold` of the best seed "
        "mean | any_seed: smallest size at which any seed reaches `threshold` of the best run (the reference "
        "study's notebook) | fitted: where the power-law fit reaches `threshold` of its asymptote; the report "
        "shows all three side by side and names this one")
    threshold: float = Field(0.95, gt=0, lt=1, description="share of the best score that counts as saturated")
    headline: dict[str, str] = Field(default_factory=dict, description="headline metric per task, overriding "
                                     "the task's own (e.g. {knn_classification: macro_f1})")

    def rule_text(self) -> str:
        """The rule in words, with its threshold."""
        return RULE_TEXT[self.saturation_rule].format(t=self.threshold)
