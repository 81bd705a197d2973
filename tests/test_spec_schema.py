"""`cellplateau spec-schema`: every field with its default and description, plug-ins included."""

import json
import subprocess
import sys

from cellplateau.spec import StudySpec
from cellplateau.spec_schema import field_docs
from tests.test_registry import PCA2


def test_field_list_covers_every_section_with_defaults_and_descriptions():
    docs = {d.path: d for d in field_docs(StudySpec)}
    assert docs["seed"].default == "0" and "root seed" in docs["seed"].description
    assert docs["name"].default == "required"
    frac = docs["selection.fractions"]
    assert frac.type == "list[float]" and frac.default == "required" and "fractions of the corpus" in frac.description
    assert docs["families[name=mae].mask_ratio"].default == "0.5"
    assert docs["selection.strategies[name=geometric_sketch].backend"].default == "'cellplateau'"
    assert "execution.resources.<key>.cpus" in docs
    # every field of every registered family appears under its tag
    from cellplateau.models import FAMILIES

    for name, fam in FAMILIES.items():
        for field in fam.config.model_fields:
            if field != "name":
                assert f"families[name={name}].{field}" in docs, (name, field)


def test_json_schema_is_the_pydantic_schema():
    from cellplateau.spec_schema import json_schema

    schema = json.loads(json.dumps(json_schema()))
    assert "families" in schema["properties"] and "MAEConfig" in schema["$defs"]
    assert schema["$defs"]["SelectionSpec"]["properties"]["replicates"]["default"] == 3


def test_cli_lists_a_plugin_family_and_prints_the_json_schema(tmp_path):
    plugin = tmp_path / "pca_two.py"
    plugin.write_text(PCA2.format(name="pca_two"))
    cmd = [sys.executable, "-m", "cellplateau", "spec-schema"]
    text = subprocess.run([*cmd, "--plugin", str(plugin)], capture_output=True, text=True, check=True).stdout
    assert "families[name=pca_two].n_components: int = 50" in text
    assert "families[name=mae].hidden" in text
    bad = subprocess.run([*cmd, "--plugin", str(tmp_path / "missing.py")], capture_output=True, text=True)
    assert bad.returncode == 2 and "missing.py" in bad.stderr and "Traceback" not in bad.stderr
