import subprocess
import sys

import pytest
import yaml

from cellplateau.spec import SpecError, load_spec
from tests.runner._spec import tiny_spec


def _with_execution(tiny_atlas, tmp_path, execution):
    path = tiny_spec(tiny_atlas, tmp_path / "s")
    data = yaml.safe_load(path.read_text())
    data["execution"] = execution
    path.write_text(yaml.safe_dump(data))
    return path


def test_execution_section_defaults_and_per_stage_resources(tiny_atlas, tmp_path):
    spec = load_spec(tiny_spec(tiny_atlas, tmp_path / "a"))
    assert spec.execution.executor == "local" and spec.execution.max_retries == 2
    spec = load_spec(_with_execution(tiny_atlas, tmp_path, {
        "executor": "slurm", "workers": "auto", "max_retries": 0,
        "resources": {"default": {"cpus": 2}, "train": {"cpus": 8, "gpus": 1, "memory_gb": 32, "time_min": 240}},
        "slurm": {"partition": "gpu"}, "ray": {"address": "auto"}}))
    ex = spec.execution
    assert ex.resources_for("train").gpus == 1 and ex.resources_for("evaluate").cpus == 2
    assert ex.n_workers() >= 1 and ex.slurm.partition == "gpu" and ex.ray.address == "auto"


@pytest.mark.parametrize("execution, message", [
    ({"executor": "dask"}, "execution.executor"),
    ({"resources": {"training": {"cpus": 2}}}, "execution.resources: Value error, unknown stage(s) ['training']"),
    ({"resources": {"train": {"gpu": 1}}}, "execution.resources.train.gpu: unknown key"),
    ({"slurm": {"partition": "x", "time": 5}}, "execution.slurm.time: unknown key"),
    ({"max_retries": -1}, "execution.max_retries"),
    ({"workers": 0}, "execution.workers"),
])
def test_bad_execution_settings_name_the_key(tiny_atlas, tmp_path, execution, message):
    with pytest.raises(SpecError) as exc:
        load_spec(_with_execution(tiny_atlas, tmp_path, execution))
    assert message in str(exc.value)


def test_engines_are_imported_lazily():
    code = ("import sys, cellplateau.cli, cellplateau.runner.execute, cellplateau.runner.executors; "
            "print(sorted(m for m in ('ray', 'submitit', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_executor_on_the_command_line_fails_clearly(tiny_atlas, tmp_path):
    path = tiny_spec(tiny_atlas, tmp_path / "s")
    res = subprocess.run([sys.executable, "-m", "cellplateau", "run", str(path), "--executor", "dask"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "--executor 'dask': expected one of ['local', 'ray', 'slurm']" in res.stderr
