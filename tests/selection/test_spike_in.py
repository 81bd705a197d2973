"""Spike-in: a share of a random subset replaced by cells of a named source, same size, seeded, in the manifest."""

import numpy as np
import pytest
import yaml

from cellplateau.selection.spike_in import SpikeInConfig, select_spike_in


def test_shares_are_exact_nested_and_seeded():
    is_source = np.zeros(10_000, dtype=bool)
    is_source[8_000:] = True                                       # 8,000 base cells, 2,000 source cells
    picks = {s: select_spike_in(is_source, 1_000, s, rng=np.random.default_rng(5)) for s in (0.0, 0.1, 0.5)}
    for share, idx in picks.items():
        assert len(idx) == 1_000 and np.all(np.diff(idx) > 0)
        assert is_source[idx].sum() == round(1_000 * share)
    base = set(picks[0.0])
    kept10, kept50 = set(picks[0.1]) & base, set(picks[0.5]) & base
    assert len(kept10) == 900 and len(kept50) == 500 and kept50 <= kept10     # replacements nested: paired design
    assert set(picks[0.1]) - base <= set(picks[0.5]) - base                   # and so are the source cells
    np.testing.assert_array_equal(picks[0.1], select_spike_in(is_source, 1_000, 0.1, rng=np.random.default_rng(5)))
    assert not np.array_equal(picks[0.1], select_spike_in(is_source, 1_000, 0.1, rng=np.random.default_rng(6)))
    with pytest.raises(ValueError, match="needs 3,000 source cells; the source filter matches 2,000"):
        select_spike_in(is_source, 6_000, 0.5, rng=np.random.default_rng(0))
    assert SpikeInConfig(share=0.1, source={"dataset": ["x"]}).label == "spike_in_10pct"


def test_spike_in_subsets_in_a_study_record_their_make_up(tiny_atlas, tmp_path):
    from cellplateau.corpus.store import CorpusStore
    from cellplateau.runner.context import StudyContext
    from cellplateau.runner.plan import build_plan
    from cellplateau.runner.units import run_subset
    from cellplateau.selection.subset import load_subset
    from cellplateau.spec import load_spec
    from tests.runner._spec import tiny_spec

    store = CorpusStore(tiny_atlas / "corpus")
    source_ds = sorted(store.obs["dataset"].astype(str).unique())[0]
    is_source = (store.obs["dataset"].astype(str) == source_ds).to_numpy()
    path = tiny_spec(tiny_atlas, tmp_path / "study", fractions=(0.2,), replicates=1, pca_only=True)
    spec = yaml.safe_load(path.read_text())
    spec["selection"]["strategies"] = [{"name": "spike_in", "share": s, "source": {"dataset": [source_ds]}}
                                       for s in (0.0, 0.1, 0.5)]
    path.write_text(yaml.safe_dump(spec))
    ctx = StudyContext(load_spec(path))
    plan = build_plan(ctx)
    assert [r.strategy for r in plan.subset_refs] == ["spike_in_0pct", "spike_in_10pct", "spike_in_50pct"]
    subsets = {}
    for unit, ref in zip(plan.units["subset"], plan.subset_refs):
        run_subset(ctx, unit)
        subsets[ref.strategy] = load_subset(ctx.layout.subset(unit.key))
    n = round(0.2 * int((~is_source).sum()))                         # a fraction of the base corpus
    for label, share in (("spike_in_0pct", 0.0), ("spike_in_10pct", 0.1), ("spike_in_50pct", 0.5)):
        sub = subsets[label]
        assert len(sub.indices) == n
        rec = sub.manifest["selection"]
        assert rec == {"share": share, "source": {"dataset": [source_ds]}, "n_source": round(n * share),
                       "n_base": n - round(n * share)}
        assert is_source[sub.indices].sum() == rec["n_source"]
    base = set(subsets["spike_in_0pct"].indices)
    assert len(base & set(subsets["spike_in_50pct"].indices)) == n - round(n * 0.5)   # same random base, paired
    spec["selection"]["strategies"].append({"name": "spike_in", "share": 0.1, "source": {"dataset": ["y"]}})
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(Exception, match="give repeated strategies a `label`"):
        load_spec(path)
