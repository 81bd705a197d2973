"""Analysis stage: saturation points and summaries, computed from the results table alone."""
