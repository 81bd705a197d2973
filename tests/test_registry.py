"""Plug-ins: entry points and the spec's ``plugins`` list register families, strategies and tasks; failures and
name clashes stop at load naming the plug-in; the spec's unions follow the registries."""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import pytest

from cellplateau.spec import SpecError, parse_spec, spec_from_json
from tests.test_spec import GOOD

PCA2 = '''
from typing import Literal
from cellplateau.models.base import Family
from cellplateau.models.pca import PCAConfig, PCAModel

class Config(PCAConfig):
    name: Literal["{name}"] = "{name}"

class Model(PCAModel):
    name = "{name}"

FAMILY = Family("{name}", Config, Model)
'''

HALF = '''
from typing import Literal
import numpy as np
from pydantic import BaseModel
from cellplateau.selection.base import Strategy

class Config(BaseModel):
    name: Literal["first_rows"] = "first_rows"

STRATEGY = Strategy("first_rows", Config, lambda ctx, n, config, rng: np.arange(n, dtype=np.int64))
'''


def _spec(**extra):
    d = copy.deepcopy(GOOD)
    d.update(extra)
    return d


def test_a_spec_plugin_file_adds_a_family_and_a_strategy(isolated_registries, tmp_path):
    (tmp_path / "fam.py").write_text(PCA2.format(name="pca2"))
    (tmp_path / "half.py").write_text(HALF)
    data = _spec(plugins=["fam.py", "half.py"], families=[{"name": "pca"}, {"name": "pca2", "n_components": 3}],
                 selection={"strategies": [{"name": "first_rows"}], "fractions": [0.5]})
    spec = parse_spec(data, base=tmp_path)
    assert spec.plugins == [str(tmp_path / "fam.py"), str(tmp_path / "half.py")]
    assert type(spec.families[1]).__name__ == "Config" and spec.families[1].n_components == 3
    assert spec.selection.strategies[0].name == "first_rows"
    # a worker gets the resolved spec as JSON and imports the plug-ins before validating it
    again = spec_from_json(spec.model_dump_json())
    assert again == spec and again.spec_hash() == spec.spec_hash()
    from cellplateau.models import FAMILIES

    assert FAMILIES.plugins() == {"pca2": f"module {str(tmp_path / 'fam.py')!r} (spec plugins)"}
    # an unknown family still lists every registered name, the plug-in's included
    with pytest.raises(SpecError, match=r"families\.0: unknown name 'gpt'; expected one of .*'pca2'"):
        parse_spec(_spec(plugins=["fam.py"], families=[{"name": "gpt"}]), base=tmp_path)


def test_a_dotted_plugin_module_on_the_path(isolated_registries, tmp_path):
    (tmp_path / "my_plugin_pkg.py").write_text(PCA2.format(name="pca3"))
    sys.path.insert(0, str(tmp_path))
    spec = parse_spec(_spec(plugins=["my_plugin_pkg"], families=[{"name": "pca3"}]), base=tmp_path)
    assert spec.families[0].name == "pca3"


@pytest.mark.parametrize("source, message", [
    ("import not_a_module_anywhere\n",
     r"^spec\.yaml: plug-in module '.*bad\.py' \(spec plugins\) failed to import: ModuleNotFoundError: "
     r"No module named 'not_a_module_anywhere'$"),
    (PCA2.format(name="pca"),
     r"^spec\.yaml: plug-in module '.*bad\.py' \(spec plugins\): family 'pca' clashes with the built-in family of "
     r"that name; give it another name$"),
    ("FAMILY = 3\n", r"plug-in module '.*bad\.py' \(spec plugins\): FAMILY is a int, expected a cellplateau Family$"),
    ("X = 1\n", r"plug-in module '.*bad\.py' \(spec plugins\) defines none of FAMILY, STRATEGY or TASK$"),
])
def test_a_bad_plugin_stops_at_load_naming_it(isolated_registries, tmp_path, source, message):
    (tmp_path / "bad.py").write_text(source)
    with pytest.raises(SpecError, match=message):
        parse_spec(_spec(plugins=["bad.py"]), source="spec.yaml", base=tmp_path)


def test_missing_plugin_file_and_two_plugins_of_one_name(isolated_registries, tmp_path):
    with pytest.raises(SpecError, match=r"plug-in module '.*nowhere\.py' \(spec plugins\) failed to import: "
                                        r"FileNotFoundError: no such file .*nowhere\.py"):
        parse_spec(_spec(plugins=["nowhere.py"]), base=tmp_path)
    (tmp_path / "a.py").write_text(PCA2.format(name="dup"))
    (tmp_path / "b.py").write_text(PCA2.format(name="dup"))
    with pytest.raises(SpecError, match=r"module '.*b\.py' \(spec plugins\): family 'dup' clashes with the "
                                        r"module '.*a\.py' \(spec plugins\) family"):
        parse_spec(_spec(plugins=["a.py", "b.py"]), base=tmp_path)
    with pytest.raises(SpecError, match=r"plugins: expected a list of module names or \.py files, got 'a\.py'"):
        parse_spec(_spec(plugins="a.py"), base=tmp_path)


def _install_entry_point(site, group: str, line: str, module_source: str, module: str) -> None:
    """A minimal installed distribution (dist-info with entry_points.txt) in ``site``."""
    dist = site / "cp_example_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cp-example-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{group}]\n{line}\n")
    (site / f"{module}.py").write_text(module_source)


def test_entry_points_register_and_fail_by_name(isolated_registries, tmp_path):
    site = tmp_path / "site"
    _install_entry_point(site, "cellplateau.families", "pca4 = cp_ep_module:FAMILY", PCA2.format(name="pca4"),
                         "cp_ep_module")
    sys.path.insert(0, str(site))
    spec = parse_spec(_spec(families=[{"name": "pca4"}]), base=tmp_path)
    from cellplateau.models import FAMILIES

    assert spec.families[0].name == "pca4"
    assert FAMILIES.sources["pca4"].startswith("entry point 'pca4' = 'cp_ep_module:FAMILY' of cp-example-plugin 0.1")


def test_a_broken_entry_point_names_itself(isolated_registries, tmp_path):
    site = tmp_path / "site"
    _install_entry_point(site, "cellplateau.tasks", "mytask = cp_broken_module:TASK", "raise RuntimeError('boom')\n",
                         "cp_broken_module")
    sys.path.insert(0, str(site))
    with pytest.raises(SpecError, match=r"^<spec>: plug-in entry point 'mytask' = 'cp_broken_module:TASK' of "
                                        r"cp-example-plugin 0\.1 \(group cellplateau\.tasks\) failed to import: "
                                        r"RuntimeError: boom$"):
        parse_spec(_spec(), base=tmp_path)


def test_cli_reports_a_broken_plugin_in_one_line(tmp_path):
    import yaml

    (tmp_path / "bad.py").write_text("raise ImportError('needs jax')\n")
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(_spec(plugins=["bad.py"])))
    out = subprocess.run([sys.executable, "-m", "cellplateau", "plan", str(tmp_path / "spec.yaml")],
                         capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "plug-in module" in lines[0] and "failed to import: ImportError: needs jax" in lines[0]


def test_importing_the_registry_stays_light():
    code = textwrap.dedent("""
        import sys, cellplateau.registry, cellplateau.spec
        assert 'torch' not in sys.modules, 'torch imported'
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
