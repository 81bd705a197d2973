"""Corpus stage: the on-disk out-of-core store, the synthetic atlas, and h5ad ingestion."""

from cellplateau.corpus.store import CorpusStore, StoreError, StoreWriter

__all__ = ["CorpusStore", "StoreError", "StoreWriter"]
