import copy

import pytest

from cellplateau.spec import SpecError, load_spec, parse_spec

GOOD = {
    "name": "s", "output_dir": "out", "corpus": {"path": "corpus"},
    "selection": {"strategies": [{"name": "random"}], "fractions": [0.5, 0.1, 1.0]},
    "families": [{"name": "pca"}],
    "evaluation": {"datasets": [{"name": "d", "path": "d.h5ad"}], "tasks": [{"name": "knn_classification"}]},
}


def _with(path: str, value):
    d = copy.deepcopy(GOOD)
    *head, last = path.split(".")
    node = d
    for key in head:
        node = node[int(key)] if key.isdigit() else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return d


def test_good_spec_is_normalised(tmp_path):
    spec = parse_spec(GOOD, base=tmp_path)
    assert spec.selection.fractions == [0.1, 0.5, 1.0]
    assert spec.output_dir == tmp_path / "out" and spec.evaluation.datasets[0].path == tmp_path / "d.h5ad"
    assert spec.spec_hash() == parse_spec(GOOD, base=tmp_path).spec_hash()


@pytest.mark.parametrize("data, message", [
    (_with("selection.fractions", [0.0, 0.5]), r"selection\.fractions: .*every fraction must be in \(0, 1\]; got \[0\.0\]"),
    (_with("selection.fractions", [1.5]), r"selection\.fractions: .*got \[1\.5\]"),
    (_with("selection.strategies", []), r"selection\.strategies: List should have at least 1 item"),
    (_with("families.0", {"name": "gpt"}), r"families\.0: unknown name 'gpt'; expected one of 'pca', 'scvi', 'mae', 'geneformer', 'scimilarity'"),
    (_with("families.0", {"name": "pca", "n_componets": 3}), r"families\.0\.n_componets: unknown key"),
    (_with("families.0", {"name": "mae", "latent": "big"}), r"families\.0\.latent: Input should be a valid integer"),
    (_with("selection.strategies.0", {"name": "kmeans"}), r"selection\.strategies\.0: unknown name 'kmeans'"),
    (_with("corpus", {"path": "c", "colour": "red"}), r"corpus\.colour: unknown key"),
    (_with("evaluation.tasks.0", {"name": "knn_classification", "k": 0}),
     r"evaluation\.tasks\.0\.k: Input should be greater than or equal to 1"),
    (_with("selection.replicates", -1), r"selection\.replicates: Input should be greater than or equal to 1"),
    ({k: v for k, v in GOOD.items() if k != "corpus"}, r"corpus: Field required"),
    (_with("evaluation.tasks", [{"name": "knn_classification"}, {"name": "batch_integration"}]),
     r"evaluation\.tasks \['batch_integration'\] apply to no dataset"),
    (_with("evaluation.datasets.0", {"name": "d", "path": "d.h5ad", "tasks": ["perturbation_response"]}),
     r"dataset 'd' lists task 'perturbation_response', which is not in evaluation\.tasks"),
    (_with("evaluation", {"datasets": [{"name": "d", "path": "d.h5ad", "tasks": ["batch_integration"]}],
                          "tasks": [{"name": "batch_integration"}]}),
     r"dataset 'd': task 'batch_integration' needs \['batch_key'\] set"),
    (_with("evaluation.datasets.0", {"name": "d", "path": "d.h5ad", "source": {"url": "http://x/d.h5ad",
                                                                              "sha256": "abc"}}),
     r"evaluation\.datasets\.0\.source\.sha256: String should match pattern"),
    (_with("evaluation.min_gene_overlap", 1.5), r"evaluation\.min_gene_overlap: Input should be less than or equal to 1"),
])
def test_bad_specs_name_the_key(data, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_spec(data, source="study.yaml")
    assert str(info.value).startswith("study.yaml: invalid study spec")


def test_yaml_errors_name_the_file(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: [unclosed")
    with pytest.raises(SpecError, match=r"s\.yaml: not valid YAML"):
        load_spec(p)
    with pytest.raises(SpecError, match=r"missing\.yaml: spec file not found"):
        load_spec(tmp_path / "missing.yaml")
    p.write_text("- a list")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec(p)


def test_demo_spec_is_valid(tmp_path):
    from cellplateau.demo import write_demo_spec

    spec = load_spec(write_demo_spec(tmp_path))
    assert {s.name for s in spec.selection.strategies} == {"random", "celltype_reweighted", "geometric_sketch"}
    assert spec.selection.fractions == [0.01, 0.05, 0.1, 0.25, 1.0] and spec.selection.replicates == 3
    sim = spec.corpus.simulate
    assert sim.planted_states == 2 and sim.planted_min_cells / sim.planted_cells == 0.1
    ds = {d.name: d for d in spec.evaluation.datasets}
    assert (ds["planted"].label_key, ds["no_signal"].label_key) == ("planted_state", "no_signal")


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, cellplateau, cellplateau.spec, cellplateau.cli; "
            "print(sorted(m for m in ('torch', 'scanpy', 'sklearn', 'anndata', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
