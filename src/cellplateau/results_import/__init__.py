"""Results import: an external study's per-seed tables + a mapping YAML -> cellplateau's results table, which the
report reads like a study's own (``cellplateau import-results``)."""
