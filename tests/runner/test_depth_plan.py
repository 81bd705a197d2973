import pytest
import yaml

from cellplateau.runner.context import StudyContext
from cellplateau.runner.plan import build_plan
from cellplateau.spec import SpecError, load_spec
from tests.runner._spec import tiny_spec


def _spec(atlas, out, quality=None):
    path = tiny_spec(atlas, out, fractions=(0.1, 1.0), replicates=2)
    if quality is not None:
        data = yaml.safe_load(path.read_text())
        data["quality"] = quality
        path.write_text(yaml.safe_dump(data))
    return load_spec(path)


def test_depth_crosses_every_training_and_keeps_full_depth_keys(tiny_atlas, tmp_path):
    plain = build_plan(StudyContext(_spec(tiny_atlas, tmp_path / "a")))
    deep = build_plan(StudyContext(_spec(tiny_atlas, tmp_path / "b", {"depth": [0.25, 1.0, 0.5]})))
    trained = [u for u in plain.units["train"] if not u.params.get("control")]
    assert {u.key for u in plain.units["train"]} <= {u.key for u in deep.units["train"]}, \
        "depth 1.0 units keep today's keys (existing studies keep their cache)"
    extra = [u for u in deep.units["train"] if u.params.get("depth")]
    assert len(extra) == 2 * len(trained) and {u.params["depth"] for u in extra} == {0.5, 0.25}
    seeds = {(u.params["depth"], u.params["subset_key"], u.params["family"]): u.params["thin_seed"] for u in extra}
    assert len(set(seeds.values())) == 2 * 2, "one thinning seed per (depth, replicate), shared across families"
    assert len(deep.units["evaluate"]) == len(deep.units["train"]) * len(plain.units["evaluate"]) // len(
        plain.units["train"])
    assert len(deep.thinned) == len(extra)


@pytest.mark.parametrize("quality, msg", [({"depth": [0.5]}, "must include 1.0"),
                                          ({"depth": [1.0, 0.0]}, r"in \(0, 1\]"),
                                          ({"depth": [1.0, 1.0]}, "distinct")])
def test_bad_depths_are_refused_naming_the_key(tiny_atlas, tmp_path, quality, msg):
    with pytest.raises(SpecError, match=f"quality.depth.*{msg}"):
        _spec(tiny_atlas, tmp_path / "c", quality)
