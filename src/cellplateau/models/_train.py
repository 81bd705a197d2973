"""The one training loop the gradient-trained families share.

It streams shuffled batches from the store, applies the budget policy (fixed steps, fixed epochs,
or early stopping on the validation loss with patience and a step cap, restoring the best
weights), uses bf16 autocast when asked (on CUDA by default), records the validation-loss trajectory and the
embedding probe's (:mod:`cellplateau.models._probe`) every ``eval_every`` steps under every policy, and returns
the record of what training actually did.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from cellplateau.models._budget import Budget, planned_steps
from cellplateau.models._compute import autocast, keep_freed_memory, peak_gpu_mb, peak_rss_mb, reset_gpu_peak
from cellplateau.models._loader import BatchStream
from cellplateau.models._validation import convergence
from cellplateau.models.base import FitInfo, TrainingData


def train(net, data: TrainingData, *, seed: int, device: str, batch_size: int, budget: Budget,
          optimizer, loss_fn: Callable[[np.ndarray, sp.csr_matrix], object], val_fn: Callable[[], float],
          scheduler_fn: Callable[[object, int], object] | None = None, clip_norm: float | None = None,
          bf16: bool = False, probe_fn: Callable[[], float] | None = None,
          probe_skipped: str | None = None, probe_n: int | None = None) -> FitInfo:
    """Train ``net`` in place; ``loss_fn(rows, counts)`` returns a scalar loss tensor (or None to skip).

    ``val_fn()`` evaluates the validation loss with the network in eval mode on the family's
    :func:`~cellplateau.models._validation.validation_sample` (it may switch modes; the loop restores train
    mode). ``probe_fn()`` scores the embedding probe at the same points (eval mode, no gradients); ``None``
    with ``probe_skipped`` the reason it is not scored; ``probe_n`` its query cells (its sampling error, for the
    convergence rule). Early stopping decides on the validation loss alone and
    restores the weights of its best loss. ``bf16``: training steps under bf16 autocast. ``flops`` is left for
    the family.
    """
    import torch

    t0 = time.perf_counter()
    if len(data.train) < 2:
        raise ValueError(f"training needs at least 2 cells, the subset's training split has {len(data.train)}")
    reset_gpu_peak(device)
    if device == "cpu":
        keep_freed_memory()
    total_steps = planned_steps(budget, n_train=len(data.train), batch_size=batch_size)
    scheduler = scheduler_fn(optimizer, total_steps) if scheduler_fn else None
    best, bad, step, taken, loss_ema, best_state = float("inf"), 0, 0, 0, float("nan"), None
    stopped = False
    net.to(device)
    if probe_fn is None and probe_skipped is None:
        probe_skipped = "the training scores no embedding probe (train() got no probe_fn)"

    def probe() -> float:
        return float("nan") if probe_fn is None else float(probe_fn())

    curve: list[list] = [[0, 0, float(val_fn())]]
    probes: list[list] = [[0, 0, probe()]] if probe_fn is not None else []
    net.train()
    with BatchStream(data.store, data.train, batch_size=batch_size, rng=np.random.default_rng(seed)) as stream:
        for step in range(1, total_steps + 1):
            rows, counts = next(stream)
            with autocast(device, bf16):
                loss = loss_fn(rows, counts)
            if loss is None:
                continue
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_norm:
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            taken += 1
            lv = float(loss.detach())
            loss_ema = lv if np.isnan(loss_ema) else 0.95 * loss_ema + 0.05 * lv
            if step % budget.eval_every == 0:
                v = float(val_fn())
                curve.append([taken, taken * batch_size, v])
                if probe_fn is not None:
                    probes.append([taken, taken * batch_size, probe()])
                net.train()
                if budget.policy == "early_stopping":
                    if v < best - 1e-6:
                        best, bad = v, 0
                        best_state = {k: t.detach().clone() for k, t in net.state_dict().items()}
                    else:
                        bad += 1
                        if bad >= budget.patience:
                            stopped = True
                            break
        wait, epochs = stream.wait_s, stream.epochs
    if best_state is not None:
        net.load_state_dict(best_state)
    gpu = peak_gpu_mb(device)
    final_val = float(val_fn())
    if best_state is None and curve[-1][0] != taken:
        curve.append([taken, taken * batch_size, final_val])
        if probe_fn is not None:
            probes.append([taken, taken * batch_size, probe()])
    converged, loss_converged, probe_converged = convergence(
        curve, probes, tol=budget.converge_tol, window=budget.converge_window, probe_skipped=probe_skipped,
        probe_n=probe_n)
    net.to("cpu").eval()
    return FitInfo(
        steps=taken, epochs=epochs, cells_seen=taken * batch_size, train_loss=loss_ema, val_loss=final_val,
        n_params=int(sum(p.numel() for p in net.parameters())), wall_time_s=time.perf_counter() - t0,
        data_wait_s=wait, device=device, peak_rss_mb=peak_rss_mb(), peak_gpu_mb=gpu,
        budget={**budget.model_dump(), "planned_steps": total_steps, "steps_taken": taken,
                "stopped_early": stopped, "holds_constant": budget.holds_constant,
                "precision": "bf16" if bf16 else "fp32"},
        val_curve=curve, probe_curve=probes, converged=converged, loss_converged=loss_converged,
        probe_converged=probe_converged, probe_skipped=probe_skipped,
    )
