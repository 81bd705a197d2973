"""``TorchFamily``: the base of every gradient-trained family, built-in or plug-in.

A family supplies the maths; the base owns what every neural family needs and would otherwise repeat:

- **config**: :class:`TorchConfig` (size presets, learning rate, weight decay, batch size, budget, validation
  cells); a family's config subclasses it with ``name: Literal[...]``, its fields and ``presets``;
- **seeding**: ``torch.manual_seed(seed)`` before the network is built, a seeded generator for the training
  batches' randomness (masks) and a second one, reset at every evaluation, for the validation loss;
- **training**: the shared loop (:func:`cellplateau.models._train.train`: streamed batches, budget policy,
  bf16 autocast per ``precision``, validation-loss trajectory);
- **the validation loss** on a seeded random sample of the subset's validation cells
  (:func:`cellplateau.models._validation.validation_sample`), with the same loss as training, and beside it
  **the embedding probe** (:mod:`cellplateau.models._probe`: kNN accuracy of :meth:`encode` on a fixed, seeded,
  labelled slice of the validation cells, labels from ``probe_label_key``); converged = both plateaued;
- **embedding** in batches without gradients, and the trainable encoder for full fine-tuning;
- **checkpoints**: ``weights.pt`` with the state dict, the vocabulary size and the family's extra tensors;
- **the compute record**: parameter count, and FLOPs (``6 x parameters x cells seen`` unless the family
  counts its own).

What a family implements::

    build(n_genes) -> torch.nn.Module            # every parameter; keep sub-modules as attributes
    loss(rows, counts, *, gen, device, step)     # scalar loss tensor of a batch (step None: validation)
    encode(x) -> tensor                          # the embedding of prepared inputs, with gradients
    dim -> int                                   # embedding width (a property)

and optionally ``inputs(counts)`` (default: log1p(CP10k) as a dense float32 tensor), ``prepare(data, seed)``
(statistics of the training cells before the network is built), ``encoder_module()`` (the parameters full
fine-tuning tunes), ``extra_state()`` / ``load_extra_state(state)``, ``untrained_state(n_genes)``,
``optimizer(params)``, ``scheduler(optimizer, total_steps)`` and ``training_flops(info)``.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from cellplateau.models._budget import Budget
from cellplateau.models.base import FamilyConfig, FitInfo, ModelFamily, TrainableEncoder, TrainingData


class TorchConfig(FamilyConfig):
    """Fields every gradient-trained family has (a family's config overrides the defaults it needs)."""

    lr: float = Field(1e-3, gt=0, description="learning rate")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay")
    batch_size: int = Field(256, ge=2, description="cells per optimizer step")
    val_cells: int = Field(4096, ge=1, description="validation cells scored for the validation loss (a seeded "
                           "random sample of the subset's validation split)")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="training arithmetic: auto = bf16 autocast on CUDA, fp32 on CPU; bf16 = bf16 autocast "
        "on any device (1.5x faster steps for the demo's MAE on a CPU with AVX512-BF16 or AMX, slower on one "
        "without); fp32 = never")
    probe_label_key: str | None = Field(
        "cell_type", description="corpus obs column labelling the probe's validation slice (kNN accuracy of the "
        "embedding at every validation point, beside the validation loss); a corpus without it, or with fewer "
        "than 2 classes there, skips the probe (the reason is recorded) and convergence is the loss's alone; "
        "null: no probe")
    probe_cells: int = Field(1024, ge=4, description="labelled validation cells in the probe's slice (half "
                             "reference, half query; a seeded sample fixed for the whole training)")
    probe_k: int = Field(5, ge=1, description="neighbours of the probe's kNN classifier")
    budget: Budget = Budget()


class TorchFamily(ModelFamily):
    """Base class of the neural families (see the module docstring for what a family implements)."""

    config: TorchConfig
    amp: ClassVar[bool] = True                 # False: never bf16, whatever the precision (scVI's likelihood)
    clip_norm: ClassVar[float | None] = None   # gradient-norm clipping
    val_chunk: ClassVar[int] = 2048            # cells per forward pass when scoring the validation loss

    # ------------------------------------------------------------------ what a family implements
    @abc.abstractmethod
    def build(self, n_genes: int) -> Any:
        """The network for a vocabulary of ``n_genes`` genes (a ``torch.nn.Module`` holding every parameter)."""

    @abc.abstractmethod
    def loss(self, rows: np.ndarray, counts: sp.csr_matrix, *, gen, device: str, step: int | None):
        """Scalar loss tensor of one batch (corpus ``rows``, raw ``counts``); ``gen``: a seeded
        ``torch.Generator`` for any randomness; ``step``: the optimizer step (``None`` when scoring the
        validation loss). May return ``None`` to skip a batch."""

    @abc.abstractmethod
    def encode(self, x):
        """Embedding (cells x :attr:`dim`) of prepared inputs ``x`` (see :meth:`inputs`), with gradients."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Embedding width."""

    def inputs(self, counts: sp.csr_matrix, *, source: str = "counts"):
        """Raw counts (CSR) -> the encoder's input tensor; default log1p(CP10k), dense float32."""
        import torch

        from cellplateau.corpus.features import log1p_cp10k

        return torch.from_numpy(log1p_cp10k(counts, dense=True))

    def embed_input(self, counts: sp.csr_matrix, *, source: str = "counts"):
        """The input :meth:`embed` feeds :meth:`encode` (default :meth:`inputs`; the MLP families keep it sparse)."""
        return self.inputs(counts, source=source)

    def prepare(self, data: TrainingData, *, seed: int) -> None:
        """Statistics of the training cells needed before building (e.g. gene medians); default none."""

    def untrained_state(self, n_genes: int) -> None:
        """What :meth:`prepare` would set, for the untrained control (which sees no data); default none."""

    def encoder_module(self):
        """The parameters full fine-tuning tunes; default the whole network."""
        return self.net

    def extra_state(self) -> dict[str, Any]:
        """Tensors saved with the weights (e.g. gene medians)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` saved."""

    def optimizer(self, params):
        from cellplateau.models._optim import adamw

        return adamw(params, lr=self.config.lr, weight_decay=self.config.weight_decay)

    def scheduler(self, optimizer, total_steps: int):
        """A learning-rate scheduler stepped after every optimizer step; default none."""
        return None

    def training_flops(self, info: FitInfo) -> float:
        from cellplateau.models._compute import dense_training_flops

        return dense_training_flops(info.n_params, info.cells_seen)

    # ------------------------------------------------------------------ what the base owns
    def _build(self, n_genes: int) -> None:
        self.n_genes = n_genes
        self.net = self.build(n_genes)

    def init_untrained(self, n_genes: int, *, seed: int) -> None:
        import torch

        torch.manual_seed(seed)
        self.untrained_state(n_genes)
        self._build(n_genes)
        self.net.eval()

    def fit(self, data: TrainingData, *, seed: int, device: str = "cpu") -> FitInfo:
        import torch

        from cellplateau.models._compute import uses_bf16
        from cellplateau.models._train import train
        from cellplateau.models._validation import validation_sample

        self.prepare(data, seed=seed)
        torch.manual_seed(seed)
        self._build(data.store.n_genes)
        gen = torch.Generator().manual_seed(seed)
        steps = {"n": 0}

        def loss_fn(rows, counts):
            steps["n"] += 1
            return self.loss(rows, counts, gen=gen, device=device, step=steps["n"])

        val_rows = validation_sample(data.val, seed=seed, n=self.config.val_cells)
        probe_fn, skipped, probe_n = self._probe_fn(data, seed=seed, device=device)
        opt = self.optimizer(self.net.parameters())
        info = train(self.net, data, seed=seed, device=device, batch_size=self.config.batch_size,
                     budget=self.config.budget, optimizer=opt, loss_fn=loss_fn,
                     val_fn=lambda: self.validation_loss(data.store, val_rows, seed=seed),
                     scheduler_fn=self.scheduler, clip_norm=self.clip_norm,
                     bf16=self.amp and uses_bf16(self.config.precision, device),
                     probe_fn=probe_fn, probe_skipped=skipped, probe_n=probe_n)
        info.flops = self.training_flops(info)
        self.fit_info = info
        return info

    def _probe_fn(self, data: TrainingData, *, seed: int, device: str):
        """``(probe_fn, None, n_query)``: the probe on its slice (read once here) and the query cells it scores, or
        ``(None, reason, None)`` when skipped."""
        from cellplateau.models._probe import ProbeSkipped, probe_slice

        c = self.config
        try:
            cut = probe_slice(data.store.obs, data.val, label_key=c.probe_label_key, seed=seed, n=c.probe_cells)
        except ProbeSkipped as exc:
            return None, str(exc), None
        counts = data.store.read_rows(cut.rows)
        return (lambda: self.probe(counts, cut, device=device)), None, len(cut.query)

    def probe(self, counts: sp.csr_matrix, cut, *, device: str) -> float:
        """kNN accuracy of the current embedding of the probe slice ``cut`` (its raw ``counts``), in eval mode
        without gradients, on ``device`` (where the network is while it trains)."""
        from cellplateau.models._probe import knn_accuracy

        emb = self.embed(counts, source="probe slice", device=device)
        return knn_accuracy(emb[cut.reference], cut.labels[cut.reference], emb[cut.query], cut.labels[cut.query],
                            k=self.config.probe_k)

    def validation_loss(self, store, rows: np.ndarray, *, seed: int) -> float:
        """Mean loss per cell over ``rows`` in eval mode, no gradients; the same masks at every evaluation."""
        import torch

        if len(rows) == 0:
            return float("nan")
        gen = torch.Generator().manual_seed(seed + 1)
        device = str(next(self.net.parameters()).device)
        self.net.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for chunk, counts in store.iter_rows(rows, chunk_size=self.val_chunk):
                loss = self.loss(chunk, counts, gen=gen, device=device, step=None)
                if loss is not None:
                    total += float(loss) * len(chunk)
                    n += len(chunk)
        return total / n if n else float("nan")

    def embed(self, counts: sp.spmatrix, *, batch_size: int = 4096, source: str = "counts",
              device: str = "cpu") -> np.ndarray:
        """Embeddings of ``counts`` in eval mode without gradients; ``device``: where the network is (the probe
        embeds on the training device mid-training)."""
        import torch

        counts = sp.csr_matrix(counts)
        batch_size = min(batch_size, self.val_chunk)
        self.net.eval()
        out = []
        with torch.no_grad():
            for s in range(0, counts.shape[0], batch_size):
                x = self.embed_input(counts[s : s + batch_size], source=source)
                if device != "cpu":
                    x = (x.dense() if hasattr(x, "dense") else x).to(device)
                out.append(self.encode(x).float().cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)

    def trainable_encoder(self) -> TrainableEncoder:
        return TrainableEncoder(self.encoder_module(), lambda counts: self.inputs(counts, source="fine-tuning data"),
                                self.encode, self.dim)

    def _save_weights(self, folder: Path) -> None:
        import torch

        torch.save({"n_genes": self.n_genes, "state_dict": self.net.state_dict(), **self.extra_state()},
                   folder / "weights.pt")

    def _load_weights(self, folder: Path) -> None:
        import torch

        ckpt = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        self.untrained_state(int(ckpt["n_genes"]))
        self._build(int(ckpt["n_genes"]))
        self.net.load_state_dict(ckpt["state_dict"])
        self.load_extra_state(ckpt)
        self.net.eval()
