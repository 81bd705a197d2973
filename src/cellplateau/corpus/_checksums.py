"""Content checksums of files, whole or per fixed-size block (SHA-256, streamed; memory stays one buffer).

A corpus store records the checksums of every ``BLOCK_BYTES`` block of its count files when it is written,
so a reader can verify the whole store in one streamed pass, or just the blocks it reads. A unit of a study
records the checksum of each of its output files in its done record.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ALGORITHM = "sha256"
BLOCK_BYTES = 64 << 20          # 64 MiB per checksummed block of a store's count files
_READ = 1 << 20              # read buffer (reused)


class BlockHasher:
    """Checksums of consecutive ``block_bytes`` blocks of a byte stream fed in pieces of any size."""

    def __init__(self, block_bytes: int = BLOCK_BYTES):
        self.block_bytes = int(block_bytes)
        self.size = 0
        self._digests: list[str] = []
        self._h = hashlib.sha256()
        self._in_block = 0

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        while len(view):
            take = min(len(view), self.block_bytes - self._in_block)
            self._h.update(view[:take])
            self._in_block += take
            self.size += take
            view = view[take:]
            if self._in_block == self.block_bytes:
                self._digests.append(self._h.hexdigest())
                self._h, self._in_block = hashlib.sha256(), 0

    def digests(self) -> list[str]:
        """The blocks' checksums (the last block may be short); the hasher keeps accepting data afterwards."""
        return self._digests + ([self._h.hexdigest()] if self._in_block else [])


def _stream(path: str | os.PathLike, sink, *, start: int = 0, length: int | None = None) -> None:
    """Feed ``length`` bytes of ``path`` from ``start`` (default: to the end) to ``sink`` through one buffer."""
    buf = bytearray(_READ)
    view = memoryview(buf)
    left = float("inf") if length is None else length
    with open(path, "rb", buffering=0) as fh:
        fh.seek(start)
        while left > 0 and (n := fh.readinto(view[: int(min(_READ, left))])):
            sink(view[:n])
            left -= n


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a whole file, streamed."""
    h = hashlib.sha256()
    _stream(path, h.update)
    return h.hexdigest()


def block_digests(path: str | os.PathLike, block_bytes: int = BLOCK_BYTES) -> list[str]:
    """The checksums of every ``block_bytes`` block of a file, streamed."""
    h = BlockHasher(block_bytes)
    _stream(path, h.update)
    return h.digests()


def first_bad_block(path: str | os.PathLike, expected: list[str], block_bytes: int = BLOCK_BYTES,
                    blocks: list[int] | None = None) -> int | None:
    """Index of the first block of ``path`` whose checksum differs from ``expected`` (None: all match).

    ``blocks``: only these block indices (a reader verifying what it reads); default every block. A file
    with more or fewer blocks than expected reports the first missing or extra block.
    """
    path = Path(path)
    n_blocks = -(-path.stat().st_size // block_bytes)
    if blocks is None and n_blocks != len(expected):
        return min(n_blocks, len(expected))
    for i in (range(len(expected)) if blocks is None else sorted(set(blocks))):
        if i >= len(expected) or i >= n_blocks:
            return i
        h = hashlib.sha256()
        _stream(path, h.update, start=i * block_bytes, length=block_bytes)
        if h.hexdigest() != expected[i]:
            return i
    return None
