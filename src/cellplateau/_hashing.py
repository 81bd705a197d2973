"""Stable content hashes and seed derivation.

Every unit of work in a study is keyed by a hash of its inputs, and every random choice takes a
seed derived from the spec's root seed and a tuple of names (strategy, fraction, replicate, stage).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np


def _canonical(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float):
        return repr(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return repr(float(obj))
    return obj


def stable_hash(obj: Any, *, length: int = 16) -> str:
    """Hex digest of a JSON-able object, independent of dict ordering."""
    payload = json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(payload, digest_size=32).hexdigest()[:length]


def array_hash(arr: np.ndarray, *, length: int = 16) -> str:
    """Hex digest of an array's dtype, shape and bytes."""
    h = hashlib.blake2b(digest_size=32)
    arr = np.ascontiguousarray(arr)
    h.update(str(arr.dtype).encode())
    h.update(str(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()[:length]


def _key_to_int(key: Any) -> int:
    digest = hashlib.blake2b(str(key).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def derive_seed(root: int, *keys: Any) -> int:
    """A 63-bit seed for the stage named by ``keys`` under the study's root seed.

    Uses :class:`numpy.random.SeedSequence` with the keys hashed into its spawn key, so seeds for
    different (strategy, fraction, replicate, stage) tuples are statistically independent and the
    same tuple always gives the same seed.
    """
    ss = np.random.SeedSequence(entropy=int(root), spawn_key=tuple(_key_to_int(k) for k in keys))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def rng_for(root: int, *keys: Any) -> np.random.Generator:
    """A fresh generator seeded by :func:`derive_seed`."""
    return np.random.default_rng(derive_seed(root, *keys))
