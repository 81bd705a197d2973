"""Compute accounting: analytical training-FLOP estimates and peak memory.

Dense networks: a forward pass costs ~2 FLOPs per parameter per example and the backward pass
twice that, so training costs ``6 * n_params * examples`` (Kaplan et al. 2020). Transformers add
attention: ``6 * N_non_embedding * tokens + 6 * layers * context * hidden * tokens`` (forward
``2 * n_layer * n_ctx * d``, times three with the backward pass).
"""

from __future__ import annotations

import resource
import sys


def dense_training_flops(n_params: int, examples: int) -> float:
    return 6.0 * n_params * examples


def transformer_training_flops(n_params_non_embedding: int, tokens: int, *, layers: int, context: int,
                               hidden: int) -> float:
    return 6.0 * n_params_non_embedding * tokens + 6.0 * layers * context * hidden * tokens


def pca_flops(n_cells: int, n_genes: int) -> float:
    """Gram accumulation (2 n G^2) plus a symmetric eigendecomposition (~9 G^3)."""
    return 2.0 * n_cells * n_genes**2 + 9.0 * n_genes**3


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


def peak_gpu_mb(device: str) -> float:
    if device != "cuda":
        return float("nan")
    import torch

    return torch.cuda.max_memory_allocated() / 1024 / 1024


def reset_gpu_peak(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()


def autocast(device: str, bf16: bool):
    """bf16 autocast on ``device`` when ``bf16`` (matrix products in bf16, accumulation and the weights in fp32),
    else a no-op."""
    import contextlib

    if bf16:
        import torch

        return torch.autocast("cuda" if device == "cuda" else "cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def uses_bf16(precision: str, device: str) -> bool:
    """Whether a training with ``precision`` (auto | fp32 | bf16) on ``device`` runs under bf16 autocast: auto
    means bf16 on CUDA and fp32 on CPU."""
    return precision == "bf16" or (precision == "auto" and device == "cuda")


KEEP_FREED_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Have glibc's malloc serve allocations up to 1 GiB from its heap and keep up to 1 GiB of freed memory,
    instead of mapping every large block afresh and returning it on free (its default above 128 KiB to 32 MiB).

    A CPU training step allocates and frees the same large tensors every step (at 19,331 genes: 20-40 MB
    activations, bf16 weight copies and gradients), and each fresh mapping is paid again in page faults: at the
    reference MAE size this setting took a bf16 step from about 125 to 100 ms on 2 cores
    (benchmarks/results/training.md), the effect PyTorch's CPU tuning guide gets from jemalloc or tcmalloc.
    Process-wide, for the training process only; a no-op returning False off glibc."""
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, KEEP_FREED_BYTES)) and bool(mallopt(m_trim_threshold, KEEP_FREED_BYTES))


def use_threads(threads: int) -> None:
    """Run torch and the compiled (numba) kernels of the MLP families on ``threads`` threads.

    A local worker gets its share of the cores; numba's default is every core, so two workers with two numba
    threads each on two cores stall at every parallel kernel's barrier: the demo's MAE step took 65 ms instead
    of 29 ms that way. Before numba is imported the limit goes through ``NUMBA_NUM_THREADS``, after it through
    ``numba.set_num_threads`` (capped at the pool numba started with)."""
    import os

    import torch

    torch.set_num_threads(threads)
    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = str(threads)
        return
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
