"""The embedding probe every gradient-trained family records beside its validation loss.

A flat pretraining loss does not show that the embedding stopped improving (the reference's SSL model's
held-out loss falls 4 % from 1 % to 100 % of the corpus while its macro-F1 doubles). So at every validation
point the shared loop also scores a cheap probe of the embedding itself: kNN accuracy (k = 5, Euclidean, as the
zero-shot classification task) on a fixed slice of the subset's labelled validation cells.

The slice is drawn once per training from the training seed: a uniform sample of at most ``n`` (1,024) of the
validation cells that carry a label in ``label_key`` (:func:`cellplateau.corpus.labels.is_unlabelled` cells
left out), split by :func:`cellplateau.evaluation.splits.stratified_split` into a reference half and a query
half. Each evaluation embeds the same cells; the score is the share of query cells whose ``k`` nearest
reference cells vote for their own label. Without labels the probe is skipped: :class:`ProbeSkipped` says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROBE_CELLS = 1024     # labelled validation cells in the slice (half reference, half query)
PROBE_K = 5            # neighbours, as the zero-shot kNN task


class ProbeSkipped(ValueError):
    """The probe cannot be scored on this subset; the message is the reason recorded in the fit record."""


@dataclass(frozen=True)
class ProbeSlice:
    """The probe's cells: ``rows`` (sorted corpus rows), their ``labels``, and the positions (into ``rows``) of
    the ``reference`` and ``query`` halves."""

    rows: np.ndarray
    labels: np.ndarray
    reference: np.ndarray
    query: np.ndarray


def probe_slice(obs, val_rows: np.ndarray, *, label_key: str | None, seed: int,
                n: int = PROBE_CELLS) -> ProbeSlice:
    """The fixed, seeded probe slice of ``val_rows`` (corpus rows of the validation cells) labelled by
    ``obs[label_key]``; raises :class:`ProbeSkipped` with the reason when there is none."""
    from cellplateau._hashing import derive_seed, rng_for
    from cellplateau.corpus.labels import is_unlabelled
    from cellplateau.evaluation.splits import stratified_split

    if label_key is None:
        raise ProbeSkipped("probe_label_key is null: the probe is switched off")
    if label_key not in obs.columns:
        raise ProbeSkipped(f"corpus obs has no column {label_key!r}")
    val_rows = np.asarray(val_rows, dtype=np.int64)
    if len(val_rows) == 0:
        raise ProbeSkipped("the subset has no validation cells")
    col = obs[label_key].iloc[val_rows]
    labelled = val_rows[~is_unlabelled(col)]
    if len(labelled) > n:
        labelled = rng_for(seed, "probe-slice").choice(labelled, size=n, replace=False)
    rows = np.sort(labelled)
    labels = obs[label_key].iloc[rows].astype(str).to_numpy()
    values, counts = np.unique(labels, return_counts=True)
    if (counts >= 2).sum() < 2:
        raise ProbeSkipped(f"the validation slice has {int((counts >= 2).sum())} class(es) of {label_key!r} with at "
                           f"least 2 labelled cells ({len(rows)} labelled cells); the probe needs 2")
    reference, query = stratified_split(labels, 0.5, seed=derive_seed(seed, "probe-split"))
    return ProbeSlice(rows, labels, reference, query)


def knn_accuracy(reference: np.ndarray, ref_labels: np.ndarray, query: np.ndarray, query_labels: np.ndarray, *,
                 k: int = PROBE_K) -> float:
    """Share of ``query`` rows (cells x dims) whose ``k`` nearest ``reference`` rows (Euclidean) vote for their
    own label; a tied vote goes to the label of the nearer neighbours. NaN when an embedding is not finite."""
    ref = np.asarray(reference, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    if not (np.isfinite(ref).all() and np.isfinite(q).all()):
        return float("nan")
    k = min(k, len(ref))
    classes, ref_codes = np.unique(np.asarray(ref_labels), return_inverse=True)
    d = (q * q).sum(1)[:, None] - 2.0 * q @ ref.T + (ref * ref).sum(1)[None, :]
    near = np.argpartition(d, k - 1, axis=1)[:, :k] if k < len(ref) else np.tile(np.arange(len(ref)), (len(q), 1))
    order = np.argsort(np.take_along_axis(d, near, axis=1), axis=1, kind="stable")
    near = np.take_along_axis(near, order, axis=1)                     # nearest first
    votes = np.zeros((len(q), len(classes)))
    weight = 1.0 + 1e-6 * np.arange(k, 0, -1)                          # ties: the nearer neighbours win
    np.add.at(votes, (np.repeat(np.arange(len(q)), k), ref_codes[near].ravel()), np.tile(weight, len(q)))
    pred = classes[votes.argmax(1)]
    return float(np.mean(pred == np.asarray(query_labels)))
