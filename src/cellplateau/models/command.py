"""Families for models that live outside Python or outside this package: a ``command`` family (cellplateau
runs the user's train and embed commands) and an ``imported`` family (checkpoints trained elsewhere, one per
subset, embedded by the user's command).

Both are ordinary units of the study (hashed, cached, claimed, retried, on every executor). Commands are
split like a shell line (``shlex``; no shell is involved) and their ``{placeholders}`` filled per unit:

- train: ``{train_rows}`` / ``{val_rows}`` (text files of corpus row indices, one a line), ``{train_h5ad}`` /
  ``{val_h5ad}`` (streamed ``.h5ad`` exports of those cells, with ``export_h5ad: true``), ``{corpus}`` (the
  store folder), ``{genes}`` (the vocabulary, one gene a line), ``{n_genes}``, ``{model_dir}`` (where the
  command writes its model), ``{seed}``, ``{device}``, ``{subset_manifest}``;
- embed: ``{model_dir}``, ``{input_h5ad}`` (raw counts on the corpus vocabulary), ``{output}`` (the ``.npy`` or
  ``.parquet`` to write: one row per input cell, ``dim`` columns), ``{seed}``, ``{device}``.

Both also get ``{python}`` (the interpreter running cellplateau). The seed and device also arrive as
``CELLPLATEAU_SEED`` / ``CELLPLATEAU_DEVICE``. Each command's output goes
to a log file (train: ``train.log`` in the model artifact; embed: ``embed_logs/`` beside it); a command that
fails, or an embedding that is not one finite row of width ``dim`` per cell, raises an error naming the
command and quoting the end of its log.

A train command (and an imported checkpoint folder) may hold ``fit.json``, a JSON object with any of:

- ``steps, epochs, cells_seen, train_loss, val_loss, n_params, flops`` (numbers): its compute record;
- ``converged`` (true, false or null): whether training reached a plateau;
- ``val_curve``: the validation-loss trajectory, rows ``[step, cells_seen, loss]`` in training order;
- ``probe_curve``: the embedding probe's trajectory, rows ``[step, cells_seen, probe]`` (a score that rises as
  the embedding improves, e.g. kNN accuracy on labelled held-out cells, as the built-in families record).

Curves without ``converged`` are judged by the built-in rule (:func:`cellplateau.models._validation.convergence`
with the default budget's ``converge_tol`` and ``converge_window``): converged when both have plateaued, the
loss alone when no ``probe_curve`` is given. A ``converged`` given wins. Without either, convergence stays
unknown (None). Other keys are ignored; a malformed value is an error naming the file and the key.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from cellplateau.corpus.export import vocabulary, write_h5ad_rows, write_rows_file
from cellplateau.models.base import Family, FitInfo, ModelFamily, TrainingData

_LABEL = Field(pattern=r"^[A-Za-z0-9_.:]+$", description="the model's name in plans, results and the report")
_FIT_KEYS = ("steps", "epochs", "cells_seen", "train_loss", "val_loss", "n_params", "flops")
_CURVE_KEYS = {"val_curve": "loss", "probe_curve": "probe"}


class _CommandBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = _LABEL
    embed: str = Field(description="embed command: reads {input_h5ad} with {model_dir}, writes {output}")
    dim: int = Field(ge=1, description="embedding width the embed command must write")
    output_format: Literal["npy", "parquet"] = Field("npy", description="file type of {output}")
    cwd: Path = Field(Path("."), description="working folder of the commands (relative to the spec)")
    timeout_s: float | None = Field(None, gt=0, description="kill a command running longer than this")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables for the commands")


class CommandConfig(_CommandBase):
    """A model trained and embedded by the user's own commands (any language or framework)."""

    name: Literal["command"] = "command"
    train: str = Field(description="train command: learns from {train_rows} (or {train_h5ad}), writes {model_dir}")
    untrained: str | None = Field(None, description="command writing an untrained model into {model_dir} (the "
                                  "'fraction 0' control); none: the family has no control")
    export_h5ad: bool = Field(False, description="also export the training and validation cells as .h5ad files")


class ImportedConfig(_CommandBase):
    """Checkpoints trained elsewhere on the subsets of `cellplateau export-subsets`, one folder per subset."""

    name: Literal["imported"] = "imported"
    checkpoints: Path = Field(description="checkpoint folder per subset, a template with {strategy} ({strategy} is "
                              "'all' at fraction 1), {fraction} and {replicate}, relative to the spec")
    untrained: Path | None = Field(None, description="checkpoint of the untrained model (the control); none: no "
                                   "control")


class CommandError(RuntimeError):
    """A user command failed or wrote something unusable; the message names the command and quotes its log."""


def _tail(log: Path, n: int = 20) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def run_command(template: str, values: dict, *, what: str, cwd: Path, env: dict, log: Path,
                timeout_s: float | None) -> None:
    """Fill ``template``'s placeholders, run it without a shell, write its output to ``log``."""
    try:
        argv = [part.format(**values) for part in shlex.split(template)]
    except KeyError as exc:
        raise CommandError(f"{what} {template!r}: unknown placeholder {{{exc.args[0]}}}; available: "
                           f"{sorted('{' + k + '}' for k in values)}") from None
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **env, "CELLPLATEAU_SEED": str(values.get("seed", "")),
                "CELLPLATEAU_DEVICE": str(values.get("device", ""))}
    with open(log, "w") as out:
        out.write(f"$ {shlex.join(argv)}\n")
        out.flush()
        try:
            proc = subprocess.run(argv, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout_s, check=False)
        except FileNotFoundError:
            raise CommandError(f"{what} {shlex.join(argv)!r}: program {argv[0]!r} not found (cwd {cwd})") from None
        except subprocess.TimeoutExpired:
            raise CommandError(f"{what} {shlex.join(argv)!r}: still running after {timeout_s:g} s (timeout_s); "
                               f"killed; log {log}:\n{_tail(log)}") from None
    if proc.returncode != 0:
        raise CommandError(f"{what} {shlex.join(argv)!r} exited with status {proc.returncode}; log {log}:\n"
                           f"{_tail(log)}")


def read_embedding(path: Path, *, n_cells: int, dim: int, what: str, log: Path) -> np.ndarray:
    """Load what an embed command wrote and check it: ``n_cells`` finite rows of width ``dim``."""
    if not path.exists():
        raise CommandError(f"{what} wrote no output {path.name}; log {log}:\n{_tail(log)}")
    try:
        if path.suffix == ".npy":
            emb = np.load(path, allow_pickle=False)
        else:
            import pandas as pd

            emb = pd.read_parquet(path).to_numpy()
        emb = np.asarray(emb, dtype=np.float32)
    except Exception as exc:
        raise CommandError(f"{what}: cannot read its output {path.name} as a numeric table "
                           f"({type(exc).__name__}: {exc})") from None
    if emb.ndim != 2 or emb.shape != (n_cells, dim):
        raise CommandError(f"{what} wrote an embedding of shape {emb.shape}; expected ({n_cells}, {dim}): one row "
                           f"per input cell and dim = {dim} columns")
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        raise CommandError(f"{what} wrote {int(bad.sum())} of {n_cells} rows with NaN or infinite values "
                           f"(first: row {int(np.flatnonzero(bad)[0])})")
    return emb


def write_input_h5ad(counts: sp.spmatrix, genes: list[str], path: Path) -> None:
    import anndata as ad
    import pandas as pd

    adata = ad.AnnData(sp.csr_matrix(counts, dtype=np.float32),
                       obs=pd.DataFrame(index=[str(i) for i in range(counts.shape[0])]),
                       var=pd.DataFrame(index=pd.Index(genes, dtype=str)))
    adata.write_h5ad(path)


class _CommandModel(ModelFamily):
    """What both families share: the vocabulary, the embed command and its checks."""

    config: CommandConfig | ImportedConfig
    device_kinds = ("cpu", "cuda")

    def __init__(self, config):
        super().__init__(config)
        self.model_dir: Path | None = None
        self.log_dir: Path | None = None          # embed logs: beside the saved model (``embed_logs/``)
        self.genes: list[str] = []
        self.seed, self.device = 0, "cpu"

    def _what(self, step: str) -> str:
        return f"{step} command of family {self.config.label!r}"

    def _run(self, step: str, template: str, values: dict, log: Path) -> None:
        c = self.config
        values = {"seed": self.seed, "device": self.device, "python": sys.executable, **values}
        run_command(template, values, what=self._what(step),
                    cwd=c.cwd, env=c.env, log=log, timeout_s=c.timeout_s)

    def embed(self, counts: sp.spmatrix, *, batch_size: int = 4096, source: str = "counts") -> np.ndarray:
        if self.model_dir is None:
            raise RuntimeError(f"family {self.config.label!r}: embed before fit or load")
        if counts.shape[1] != len(self.genes):
            raise ValueError(f"{source}: {counts.shape[1]} genes, the model's vocabulary has {len(self.genes)}")
        digest = hashlib.sha1(f"{source}{time.time_ns()}{os.getpid()}".encode()).hexdigest()[:12]
        with tempfile.TemporaryDirectory(prefix="cellplateau-embed-") as tmp:
            tmp = Path(tmp)
            log = (self.log_dir or tmp) / f"embed-{digest}.log"
            write_input_h5ad(counts, self.genes, tmp / "input.h5ad")
            out = tmp / f"embedding.{self.config.output_format}"
            self._run("embed", self.config.embed, {"model_dir": self.model_dir, "input_h5ad": tmp / "input.h5ad",
                                                   "output": out}, log)
            return read_embedding(out, n_cells=counts.shape[0], dim=self.config.dim, what=self._what("embed"),
                                  log=log)

    def init_untrained(self, n_genes: int, *, seed: int) -> None:
        raise NotImplementedError("the untrained control of a command family needs the corpus (untrained_control)")

    def has_control(self) -> bool:
        return self.config.untrained is not None

    def n_params(self) -> int:
        return int(self.fit_info.n_params)

    def _save_state(self, folder: Path) -> None:
        (folder / "genes.txt").write_text("".join(f"{g}\n" for g in self.genes))
        (folder / "command.json").write_text(json.dumps({"seed": self.seed, "device": self.device}))

    def _load_state(self, folder: Path) -> None:
        self.genes = (folder / "genes.txt").read_text().splitlines()
        self.log_dir = folder / "embed_logs"
        self.log_dir.mkdir(exist_ok=True)
        state = json.loads((folder / "command.json").read_text())
        self.seed, self.device = state["seed"], state["device"]


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _curve(path: Path, key: str, value) -> list[list]:
    """A fit.json trajectory checked: a list of ``[step, cells_seen, value]`` rows of numbers."""
    shape = f"a list of [step, cells_seen, {_CURVE_KEYS[key]}] rows"
    if not isinstance(value, list):
        raise CommandError(f"{path}: key {key!r} must be {shape}, got {type(value).__name__} {value!r:.60}")
    for i, row in enumerate(value):
        if not (isinstance(row, list) and len(row) == 3 and all(_is_number(v) for v in row)):
            raise CommandError(f"{path}: key {key!r} must be {shape}; row {i} is {row!r:.60}")
    return [[int(step), int(cells), float(v)] for step, cells, v in value]


def _read_fit_json(model_dir: Path, info: FitInfo) -> FitInfo:
    """``info`` updated from ``model_dir/fit.json`` (see the module docstring), each value checked."""
    from cellplateau.models._budget import Budget
    from cellplateau.models._validation import convergence

    path = model_dir / "fit.json"
    if not path.exists():
        return info
    try:
        rec = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(rec, dict):
        raise CommandError(f"{path}: must be a JSON object of fit keys, got {type(rec).__name__}")
    for key in _FIT_KEYS:
        if key in rec:
            if not _is_number(rec[key]):
                raise CommandError(f"{path}: key {key!r} must be a number, got {rec[key]!r:.60}")
            setattr(info, key, type(getattr(info, key))(rec[key]))
    if "converged" in rec and rec["converged"] is not None and not isinstance(rec["converged"], bool):
        raise CommandError(f"{path}: key 'converged' must be true, false or null, got {rec['converged']!r:.60}")
    for key in _CURVE_KEYS:
        if key in rec:
            setattr(info, key, _curve(path, key, rec[key]))
    if info.val_curve or info.probe_curve:
        if not info.probe_curve:
            info.probe_skipped = "fit.json gives no probe_curve"
        budget = Budget()
        info.converged, info.loss_converged, info.probe_converged = convergence(
            info.val_curve, info.probe_curve, tol=budget.converge_tol, window=budget.converge_window,
            probe_skipped=info.probe_skipped)
    if rec.get("converged") is not None:
        info.converged = rec["converged"]
    return info


class CommandModel(_CommandModel):
    name = "command"
    config: CommandConfig

    def fit(self, data: TrainingData, *, seed: int, device: str = "cpu") -> FitInfo:
        t0 = time.perf_counter()
        work = Path(data.workdir or tempfile.mkdtemp(prefix="cellplateau-command-"))
        work.mkdir(parents=True, exist_ok=True)
        self.seed, self.device, self.genes = seed, device, vocabulary(data.store)
        values = {"train_rows": write_rows_file(work / "train_rows.txt", data.train),
                  "val_rows": write_rows_file(work / "val_rows.txt", data.val),
                  "corpus": data.store.path, "genes": work / "genes.txt", "n_genes": data.store.n_genes,
                  "model_dir": work / "model", "subset_manifest": work / "subset_manifest.json"}
        (work / "genes.txt").write_text("".join(f"{g}\n" for g in self.genes))
        (work / "subset_manifest.json").write_text(json.dumps(data.manifest, default=str))
        if self.config.export_h5ad:
            values["train_h5ad"] = write_h5ad_rows(data.store, data.train, work / "train.h5ad")
            values["val_h5ad"] = write_h5ad_rows(data.store, data.val, work / "val.h5ad")
        (work / "model").mkdir(exist_ok=True)
        self._run("train", self.config.train, values, work / "train.log")
        if not any((work / "model").iterdir()):
            raise CommandError(f"{self._what('train')} {self.config.train!r} wrote nothing into {{model_dir}}; log "
                               f"{work / 'train.log'}:\n{_tail(work / 'train.log')}")
        self.model_dir, self._work = work / "model", work
        self.fit_info = _read_fit_json(self.model_dir, FitInfo(
            cells_seen=len(data.train), wall_time_s=time.perf_counter() - t0, device=device,
            budget={"policy": "command"}))
        return self.fit_info

    def untrained_control(self, n_genes: int, *, seed: int, store=None) -> FitInfo:
        self.seed, self.genes = seed, vocabulary(store)
        work = Path(tempfile.mkdtemp(prefix="cellplateau-command-"))
        (work / "model").mkdir()
        (work / "genes.txt").write_text("".join(f"{g}\n" for g in self.genes))
        self._run("untrained", self.config.untrained, {"model_dir": work / "model", "corpus": store.path,
                                                       "genes": work / "genes.txt", "n_genes": n_genes},
                  work / "train.log")
        self.model_dir, self._work = work / "model", work
        self.fit_info = _read_fit_json(self.model_dir, FitInfo(budget={"policy": "untrained"}, control=True,
                                                               flops=0.0))
        return self.fit_info

    def _save_weights(self, folder: Path) -> None:
        shutil.copytree(self.model_dir, folder / "model")
        if (self._work / "train.log").exists():
            shutil.copy2(self._work / "train.log", folder / "train.log")
        if not self._work.is_relative_to(folder.parent):          # a temporary of ours outside the study
            shutil.rmtree(self._work, ignore_errors=True)
        self.model_dir = None
        self._save_state(folder)

    def _load_weights(self, folder: Path) -> None:
        self._load_state(folder)
        self.model_dir = folder / "model"


def checkpoint_path(template: Path, point: dict) -> Path:
    """The checkpoint folder of subset ``point`` (its manifest: strategy, fraction, replicate)."""
    return Path(str(template).format(strategy=point["strategy"], fraction=f"{point['fraction']:g}",
                                     replicate=point["replicate"]))


class ImportedModel(_CommandModel):
    name = "imported"
    config: ImportedConfig

    def missing_inputs(self, point: dict) -> list[str]:
        path = checkpoint_path(self.config.checkpoints, point)
        return [] if path.exists() else [str(path)]

    def fit(self, data: TrainingData, *, seed: int, device: str = "cpu") -> FitInfo:
        path = checkpoint_path(self.config.checkpoints, data.manifest)
        if not path.exists():
            raise FileNotFoundError(f"family {self.config.label!r}: checkpoint {path} of subset "
                                    f"{data.manifest.get('strategy')} {data.manifest.get('fraction'):g} "
                                    f"r{data.manifest.get('replicate')} not found (checkpoints template "
                                    f"{self.config.checkpoints})")
        self.seed, self.device, self.genes, self.model_dir = seed, device, vocabulary(data.store), path.resolve()
        self.fit_info = _read_fit_json(path, FitInfo(cells_seen=len(data.train), device=device,
                                                     budget={"policy": "imported", "checkpoint": str(path)}))
        return self.fit_info

    def untrained_control(self, n_genes: int, *, seed: int, store=None) -> FitInfo:
        self.seed, self.genes, self.model_dir = seed, vocabulary(store), Path(self.config.untrained).resolve()
        if not self.model_dir.exists():
            raise FileNotFoundError(f"family {self.config.label!r}: untrained checkpoint {self.model_dir} not found")
        self.fit_info = FitInfo(budget={"policy": "untrained", "checkpoint": str(self.model_dir)}, control=True,
                                flops=0.0)
        return self.fit_info

    def _save_weights(self, folder: Path) -> None:
        self._save_state(folder)
        (folder / "checkpoint.txt").write_text(f"{self.model_dir}\n")

    def _load_weights(self, folder: Path) -> None:
        self._load_state(folder)
        self.model_dir = Path((folder / "checkpoint.txt").read_text().strip())


def _no_estimate(config, n_genes: int, n_train: int) -> float:
    return float("nan")          # the user's model: cellplateau cannot count its FLOPs before it runs


COMMAND = Family("command", CommandConfig, CommandModel, estimate=_no_estimate)
IMPORTED = Family("imported", ImportedConfig, ImportedModel, estimate=_no_estimate)
