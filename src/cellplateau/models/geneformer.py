"""Geneformer-style family: a BERT masked-token model over rank-value encoded cells.

Uses Hugging Face ``transformers`` (``BertForMaskedLM``). Cells are tokenised by rank-value encoding
against the gene nonzero medians of the *training corpus* (saved with the model); 15 % of tokens are
selected for prediction (80 % replaced by MASK, 10 % by a random gene, 10 % kept). Embedding = mean of
the last hidden layer over the cell's non-pad tokens. Reference: 6 layers, 256 dims, 4 heads,
2,048 tokens; the CPU default is smaller.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cellplateau.models._budget import Budget, planned_steps
from cellplateau.models._compute import transformer_training_flops
from cellplateau.models._layers import load_checkpoint, save_checkpoint
from cellplateau.models._rank_tokens import MASK, N_SPECIAL, PAD, nonzero_medians, rank_value_tokens
from cellplateau.models._train import train
from cellplateau.models._validation import validation_sample
from cellplateau.models.base import (
    Family,
    FitInfo,
    ModelFamily,
    TrainableEncoder,
    TrainingData,
    apply_size_preset,
)

SIZES = {s: dict(zip(("hidden", "layers", "heads", "intermediate", "context_length"), v)) for s, v in {
    "xs": (64, 2, 2, 128, 128),
    "s": (128, 4, 4, 256, 256),
    "m": (256, 6, 4, 512, 512),
    "l": (256, 6, 4, 512, 2048),   # the reference architecture
}.items()}


class GeneformerConfig(BaseModel):
    """BERT over rank-value encoded genes (masked-token objective)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["geneformer"] = "geneformer"
    size: Literal["xs", "s", "m", "l"] | None = Field(None, description="preset; explicit fields override it")
    hidden: int = Field(64, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(2, ge=1)
    intermediate: int = Field(128, ge=8)
    context_length: int = Field(128, ge=8, description="tokens per cell (reference 2,048)")
    mask_prob: float = Field(0.15, gt=0, lt=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(32, ge=2)
    median_sample: int = Field(200_000, ge=100, description="training cells used for the gene medians")
    val_cells: int = Field(512, ge=1, description="validation cells scored for the masked-token loss (a seeded "
                           "random sample of the validation split)")
    tokens_per_forward: int = Field(16_384, ge=64, description="caps cells x context per forward pass (memory)")
    budget: Budget = Budget(policy="fixed_epochs", epochs=1.0)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data):
        return apply_size_preset(data, SIZES)


class GeneformerModel(ModelFamily):
    name = "geneformer"
    config: GeneformerConfig

    def _build(self, n_genes: int) -> None:
        from transformers import BertConfig, BertForMaskedLM

        c = self.config
        self.n_genes = n_genes
        cfg = BertConfig(vocab_size=n_genes + N_SPECIAL, hidden_size=c.hidden, num_hidden_layers=c.layers,
                         num_attention_heads=c.heads, intermediate_size=c.intermediate,
                         max_position_embeddings=c.context_length, pad_token_id=PAD, type_vocab_size=1)
        self.net = BertForMaskedLM(cfg)

    def init_untrained(self, n_genes: int, *, seed: int) -> None:
        """Random weights; genes ranked by normalised expression alone (medians of 1: no data seen)."""
        import torch

        torch.manual_seed(seed)
        self._build(n_genes)
        self.medians = np.ones(n_genes)
        self.net.eval()

    def _mask(self, tokens, gen):
        import torch

        labels = tokens.clone()
        real = tokens != PAD
        pick = (torch.rand(tokens.shape, generator=gen) < self.config.mask_prob) & real
        labels[~pick] = -100
        r = torch.rand(tokens.shape, generator=gen)
        inp = tokens.clone()
        inp[pick & (r < 0.8)] = MASK
        rand_tok = torch.randint(N_SPECIAL, self.n_genes + N_SPECIAL, tokens.shape, generator=gen)
        swap = pick & (r >= 0.8) & (r < 0.9)
        inp[swap] = rand_tok[swap]
        return inp, labels, real.long()

    def _loss(self, tokens, gen, device):
        """Masked-token cross-entropy; the vocabulary head runs on the selected positions only (about 15 %
        of tokens), which is most of the cost at a 19 k-gene vocabulary."""
        import torch.nn.functional as F

        inp, labels, att = self._mask(tokens, gen)
        h = self.net.bert(input_ids=inp.to(device), attention_mask=att.to(device)).last_hidden_state
        labels = labels.to(device)
        sel = labels != -100
        if not bool(sel.any()):
            return h.sum() * 0.0
        logits = self.net.cls(h[sel])
        return F.cross_entropy(logits.float(), labels[sel])

    def _val_loss(self, data: TrainingData, seed: int, rows: np.ndarray | None = None) -> float:
        """Validation loss on ``rows`` (default: the seeded validation sample of ``data.val``)."""
        import torch

        rows = validation_sample(data.val, seed=seed, n=self.config.val_cells) if rows is None else rows
        if len(rows) == 0:
            return float("nan")
        gen = torch.Generator().manual_seed(seed + 1)
        device = next(self.net.parameters()).device
        self.net.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for _, counts in data.store.iter_rows(rows, chunk_size=self._cells_per_pass()):
                tokens = torch.from_numpy(rank_value_tokens(counts, self.medians, self.config.context_length))
                total += float(self._loss(tokens, gen, device)) * len(tokens)
                n += len(tokens)
        return total / max(n, 1)

    def fit(self, data: TrainingData, *, seed: int, device: str = "cpu") -> FitInfo:
        import torch

        c = self.config
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(data.train, size=min(c.median_sample, len(data.train)), replace=False))
        self.medians = nonzero_medians((chunk for _, chunk in data.store.iter_rows(sample)), data.store.n_genes)
        torch.manual_seed(seed)
        self._build(data.store.n_genes)
        gen = torch.Generator().manual_seed(seed)
        seen = {"tokens": 0, "tokenise_s": 0.0}

        def loss_fn(rows, counts):
            t = time.perf_counter()
            tokens = torch.from_numpy(rank_value_tokens(counts, self.medians, c.context_length))
            seen["tokenise_s"] += time.perf_counter() - t
            seen["tokens"] += int((tokens != PAD).sum())
            seen["predicted"] = seen.get("predicted", 0) + int(round(c.mask_prob * int((tokens != PAD).sum())))
            return self._loss(tokens, gen, device)

        def one_cycle(opt, total):
            return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=c.lr, total_steps=max(total, 2), pct_start=0.1)

        opt = torch.optim.AdamW(self.net.parameters(), lr=c.lr, weight_decay=0.01)
        val_rows = validation_sample(data.val, seed=seed, n=c.val_cells)
        info = train(self.net, data, seed=seed, device=device, batch_size=c.batch_size, budget=c.budget,
                     optimizer=opt, loss_fn=loss_fn, val_fn=lambda: self._val_loss(data, seed, val_rows),
                     scheduler_fn=one_cycle, clip_norm=1.0)
        n_embed = sum(p.numel() for n, p in self.net.named_parameters() if "embeddings" in n)
        info.flops = (transformer_training_flops(info.n_params - n_embed, seen["tokens"], layers=c.layers,
                                                 context=c.context_length, hidden=c.hidden)
                      + 6.0 * c.hidden * (self.n_genes + N_SPECIAL) * seen.get("predicted", 0))   # vocabulary head
        info.budget["tokens_seen"] = seen["tokens"]
        info.budget["tokenise_s"] = seen["tokenise_s"]
        self.fit_info = info
        return info

    def _cells_per_pass(self) -> int:
        return max(1, self.config.tokens_per_forward // self.config.context_length)

    def _pool(self, tokens):
        att = (tokens != PAD).long()
        h = self.net.bert(input_ids=tokens, attention_mask=att).last_hidden_state
        w = att.unsqueeze(-1).to(h.dtype)
        return (h * w).sum(1).div(w.sum(1).clamp(min=1))

    def trainable_encoder(self) -> TrainableEncoder:
        import torch

        def prepare(counts):
            return torch.from_numpy(rank_value_tokens(sp.csr_matrix(counts), self.medians, self.config.context_length))

        return TrainableEncoder(self.net.bert, prepare, self._pool, self.config.hidden)

    def embed(self, counts: sp.spmatrix, *, batch_size: int = 256, source: str = "counts") -> np.ndarray:
        import torch

        counts = sp.csr_matrix(counts)
        batch_size = min(batch_size, self._cells_per_pass())
        out = []
        self.net.eval()
        with torch.no_grad():
            for s in range(0, counts.shape[0], batch_size):
                tokens = torch.from_numpy(rank_value_tokens(counts[s : s + batch_size], self.medians,
                                                            self.config.context_length))
                out.append(self._pool(tokens).float().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.config.hidden), np.float32)

    def _save_weights(self, folder: Path) -> None:
        save_checkpoint(folder, self.net, self.n_genes)
        np.save(folder / "gene_medians.npy", self.medians)

    def _load_weights(self, folder: Path) -> None:
        ckpt = load_checkpoint(folder)
        self._build(int(ckpt["n_genes"]))
        self.net.load_state_dict(ckpt["state_dict"])
        self.net.eval()
        self.medians = np.load(folder / "gene_medians.npy")


def _estimate(config: GeneformerConfig, n_genes: int, n_train: int) -> float:
    """Upper bound: every cell fills the context (the fit counts the tokens actually seen)."""
    model = GeneformerModel(config)
    model.init_untrained(n_genes, seed=0)
    n_embed = sum(p.numel() for n, p in model.net.named_parameters() if "embeddings" in n)
    tokens = planned_steps(config.budget, n_train=n_train, batch_size=config.batch_size) * config.batch_size \
        * config.context_length
    return (transformer_training_flops(model.n_params() - n_embed, tokens, layers=config.layers,
                                       context=config.context_length, hidden=config.hidden)
            + 6.0 * config.hidden * (n_genes + N_SPECIAL) * config.mask_prob * tokens)


FAMILY = Family("geneformer", GeneformerConfig, GeneformerModel, estimate=_estimate)
