import numpy as np
import pandas as pd
import pytest

from cellplateau.selection import STRATEGIES
from cellplateau.selection.base import SelectionContext
from cellplateau.selection.stratified import StratifiedConfig, group_codes


def _obs():
    donors = np.repeat(["d1", "d2", "d3", "d4"], [500, 100, 10, 5])
    tissue = np.where(np.arange(len(donors)) % 2 == 0, "lung", "blood")
    return pd.DataFrame({"donor": pd.Categorical(donors), "tissue": tissue})


def test_donor_level_balance_by_water_filling():
    obs = _obs()
    strat = STRATEGIES["stratified"]
    idx = strat.select(SelectionContext(obs), 100, StratifiedConfig(by=["donor"]), np.random.default_rng(0))
    counts = obs["donor"].iloc[idx].value_counts()
    assert len(idx) == 100 and np.all(np.diff(idx) > 0)
    assert counts["d4"] == 5 and counts["d3"] == 10            # small donors taken whole
    assert sorted([counts["d1"], counts["d2"]]) == [42, 43]    # the rest shared evenly
    again = strat.select(SelectionContext(obs), 100, StratifiedConfig(by=["donor"]), np.random.default_rng(0))
    np.testing.assert_array_equal(idx, again)


def test_combination_of_columns_is_one_stratum_per_pair():
    obs = _obs()
    codes = group_codes(obs, ["donor", "tissue"])
    assert len(np.unique(codes)) == 8
    idx = STRATEGIES["stratified"].select(SelectionContext(obs), 40, StratifiedConfig(by=["donor", "tissue"]),
                                          np.random.default_rng(1))
    per = obs.iloc[idx].groupby(["donor", "tissue"], observed=True).size()
    sizes = obs.groupby(["donor", "tissue"], observed=True).size()
    whole = per[per == sizes]                                   # d4's strata (2 and 3 cells) and d3's (5 = quota)
    assert len(per) == 8 and per.sum() == 40 and {("d4", "blood"), ("d4", "lung")} <= set(whole.index)
    rest = per.drop(whole.index)
    assert rest.max() - rest.min() <= 1


def test_missing_column_is_one_line():
    with pytest.raises(ValueError, match=r"stratified: corpus obs has no column\(s\) \['assay'\]"):
        STRATEGIES["stratified"].select(SelectionContext(_obs()), 10, StratifiedConfig(by=["assay"]),
                                        np.random.default_rng(0))
