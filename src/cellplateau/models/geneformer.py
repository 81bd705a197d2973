"""Geneformer-style family: a BERT masked-token model over rank-value encoded cells.

Uses Hugging Face ``transformers`` (``BertForMaskedLM``). Cells are tokenised by rank-value encoding
against the gene nonzero medians of the *training corpus* (saved with the model); 15 % of tokens are
selected for prediction (80 % replaced by MASK, 10 % by a random gene, 10 % kept). Embedding = mean of
the last hidden layer over the cell's non-pad tokens. Reference: 6 layers, 256 dims, 4 heads,
2,048 tokens; the CPU default is smaller.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from cellplateau.models._budget import Budget, planned_steps
from cellplateau.models._compute import transformer_training_flops
from cellplateau.models._rank_tokens import MASK, N_SPECIAL, PAD, nonzero_medians, rank_value_tokens
from cellplateau.models.base import Family, FitInfo, TrainingData
from cellplateau.models.torch_family import TorchConfig, TorchFamily

SIZES = {s: dict(zip(("hidden", "layers", "heads", "intermediate", "context_length"), v)) for s, v in {
    "xs": (64, 2, 2, 128, 128),
    "s": (128, 4, 4, 256, 256),
    "m": (256, 6, 4, 512, 512),
    "l": (256, 6, 4, 512, 2048),   # the reference architecture
}.items()}


class GeneformerConfig(TorchConfig):
    """BERT over rank-value encoded genes (masked-token objective)."""

    presets = SIZES
    name: Literal["geneformer"] = "geneformer"
    hidden: int = Field(64, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(2, ge=1)
    intermediate: int = Field(128, ge=8)
    context_length: int = Field(128, ge=8, description="tokens per cell (reference 2,048)")
    mask_prob: float = Field(0.15, gt=0, lt=1)
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    batch_size: int = Field(32, ge=2)
    median_sample: int = Field(200_000, ge=100, description="training cells used for the gene medians")
    val_cells: int = Field(512, ge=1, description="validation cells scored for the masked-token loss (a seeded "
                           "random sample of the validation split)")
    tokens_per_forward: int = Field(16_384, ge=64, description="caps cells x context per forward pass (memory)")
    budget: Budget = Budget(policy="fixed_epochs", epochs=1.0)


class GeneformerModel(TorchFamily):
    name = "geneformer"
    config: GeneformerConfig
    clip_norm = 1.0

    @property
    def dim(self) -> int:
        return self.config.hidden

    @property
    def val_chunk(self) -> int:                   # cells per forward pass: tokens_per_forward / context
        return max(1, self.config.tokens_per_forward // self.config.context_length)

    def build(self, n_genes: int):
        from transformers import BertConfig, BertForMaskedLM

        c = self.config
        cfg = BertConfig(vocab_size=n_genes + N_SPECIAL, hidden_size=c.hidden, num_hidden_layers=c.layers,
                         num_attention_heads=c.heads, intermediate_size=c.intermediate,
                         max_position_embeddings=c.context_length, pad_token_id=PAD, type_vocab_size=1)
        return BertForMaskedLM(cfg)

    def untrained_state(self, n_genes: int) -> None:
        """Genes ranked by normalised expression alone (medians of 1: no data seen)."""
        self.medians = np.ones(n_genes)
        self.seen = {"tokens": 0, "predicted": 0, "tokenise_s": 0.0}

    def prepare(self, data: TrainingData, *, seed: int) -> None:
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(data.train, size=min(self.config.median_sample, len(data.train)), replace=False))
        self.untrained_state(data.store.n_genes)
        self.medians = nonzero_medians((chunk for _, chunk in data.store.iter_rows(sample)), data.store.n_genes)

    def extra_state(self) -> dict:
        import torch

        return {"medians": torch.from_numpy(np.asarray(self.medians, dtype=np.float64))}

    def load_extra_state(self, state: dict) -> None:
        self.medians = state["medians"].numpy()

    def inputs(self, counts: sp.spmatrix, *, source: str = "counts"):
        import torch

        return torch.from_numpy(rank_value_tokens(sp.csr_matrix(counts), self.medians, self.config.context_length))

    def encoder_module(self):
        return self.net.bert

    def encode(self, tokens):
        att = (tokens != PAD).long()
        h = self.net.bert(input_ids=tokens, attention_mask=att).last_hidden_state
        w = att.unsqueeze(-1).to(h.dtype)
        return (h * w).sum(1).div(w.sum(1).clamp(min=1))

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

    def loss(self, rows, counts, *, gen, device, step):
        """Masked-token cross-entropy; the vocabulary head runs on the selected positions only (about 15 %
        of tokens), which is most of the cost at a 19 k-gene vocabulary."""
        import torch.nn.functional as F

        t = time.perf_counter()
        tokens = self.inputs(counts)
        if step is not None:
            n_real = int((tokens != PAD).sum())
            self.seen["tokenise_s"] += time.perf_counter() - t
            self.seen["tokens"] += n_real
            self.seen["predicted"] += int(round(self.config.mask_prob * n_real))
        inp, labels, att = self._mask(tokens, gen)
        h = self.net.bert(input_ids=inp.to(device), attention_mask=att.to(device)).last_hidden_state
        labels = labels.to(device)
        sel = labels != -100
        if not bool(sel.any()):
            return h.sum() * 0.0
        return F.cross_entropy(self.net.cls(h[sel]).float(), labels[sel])

    def scheduler(self, optimizer, total_steps: int):
        import torch

        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.config.lr, total_steps=max(total_steps, 2),
                                                   pct_start=0.1)

    def training_flops(self, info: FitInfo) -> float:
        c = self.config
        n_embed = sum(p.numel() for n, p in self.net.named_parameters() if "embeddings" in n)
        info.budget["tokens_seen"] = self.seen["tokens"]
        info.budget["tokenise_s"] = self.seen["tokenise_s"]
        return (transformer_training_flops(info.n_params - n_embed, self.seen["tokens"], layers=c.layers,
                                           context=c.context_length, hidden=c.hidden)
                + 6.0 * c.hidden * (self.n_genes + N_SPECIAL) * self.seen["predicted"])   # vocabulary head


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
